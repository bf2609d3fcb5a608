# Runs the Ruby snippets with their real clients in one process.
# Usage: ruby run_snippets.rb JOBS.json -> prints {"<key>": {"ok", "result"|"error"}}
# A job: {"key", "kind", "file", "cwd"}.
#   redis-rb: the snippet (ruby-redis) evaluated as it is; ACL WHOAMI through its `redis`.
#   rails:    config/database.yml read as Rails reads it (ActiveSupport::ConfigurationFile:
#             ERB, then YAML), its production entry connected by ActiveRecord's PostgreSQL
#             adapter (ruby-activerecord, ruby-pg).
require "json"
require "active_record"
require "active_support/configuration_file"
require "redis"

PG_PROBE = "SELECT current_user, ssl, current_setting('statement_timeout') " \
           "FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

def run_redis_rb(file)
  scope = Object.new.instance_eval { binding }
  scope.eval(File.read(file), file)
  redis = scope.local_variable_get(:redis)
  { ping: redis.ping, user: redis.call("ACL", "WHOAMI") }
ensure
  redis&.close
end

def run_rails(file)
  config = ActiveSupport::ConfigurationFile.parse(file)["production"]
  ActiveRecord::Base.establish_connection(config)
  user, ssl, timeout = ActiveRecord::Base.connection.select_rows(PG_PROBE).first
  { user: user, ssl: ssl, statement_timeout: timeout, pool: ActiveRecord::Base.connection_pool.size }
ensure
  ActiveRecord::Base.remove_connection
end

results = {}
JSON.parse(File.read(ARGV[0])).each do |job|
  Dir.chdir(job["cwd"]) do
    results[job["key"]] = { ok: true, result: send("run_#{job["kind"]}", job["file"]) }
  rescue StandardError => e
    results[job["key"]] = { ok: false, error: "#{e.class}: #{e.message}" }
  end
end
print JSON.generate(results)
