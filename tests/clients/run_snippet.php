<?php
// Runs one PHP snippet with its real client and prints {"ok", "result"|"error", "seconds"} as
// JSON.
// Usage (in the snippet's working directory): php run_snippet.php KIND FILE
//   pdo:      the php-pdo snippet (php-pgsql); probes the session through its $pdo.
//   phpredis: the phpredis snippet (php-redis); ACL WHOAMI through its $redis.
//   laravel:  the laravel .env, loaded by Debian's vlucas/phpdotenv as Laravel loads it, into
//             config/database.php's pgsql entry (laravel_database.php), connected by Laravel's
//             own Illuminate\Database (php-illuminate-database).
//   laravel_resilience: the laravel resilience sample, verbatim, beside the .env of the same
//             case: its pgsql entry (up to its first blank line) inside 'connections' as
//             config/database.php holds it, then its code as the app runs it, with DB
//             resolved as in a Laravel app.
// One process per snippet: PHP cannot forget a function a resilience sample declares.
const PG_PROBE = "SELECT current_user AS user, ssl, current_setting('statement_timeout') AS statement_timeout"
    . " FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

function run_pdo(string $file): array
{
    require $file;
    return $pdo->query(PG_PROBE)->fetch(PDO::FETCH_ASSOC);
}

function run_phpredis(string $file): array
{
    require $file;
    return ['ping' => $redis->ping(), 'user' => $redis->rawCommand('ACL', 'WHOAMI')];
}

function laravel(string $env_file, callable $pgsql_entry): Illuminate\Database\Capsule\Manager
{
    require '/usr/share/php/Dotenv/autoload.php';
    require '/usr/share/php/Illuminate/Database/autoload.php';
    Dotenv\Dotenv::createImmutable(dirname($env_file), basename($env_file))->load();
    $capsule = new Illuminate\Database\Capsule\Manager();
    $capsule->addConnection($pgsql_entry());
    Illuminate\Support\Facades\Facade::setFacadeApplication(['db' => $capsule->getDatabaseManager()]);
    return $capsule;
}

function run_laravel(string $file): array
{
    $capsule = laravel($file, fn () => require __DIR__ . '/laravel_database.php');
    return (array) $capsule->getConnection()->selectOne(PG_PROBE);
}

function run_laravel_resilience(string $file): array
{
    [$entry, $code] = explode("\n\n", file_get_contents($file), 2);
    $capsule = laravel(dirname($file) . '/.env', function () use ($entry) {
        $connections = eval("return [$entry];");
        return $connections['pgsql'];
    });
    eval($code);
    return (array) $capsule->getConnection()->selectOne(PG_PROBE);
}

// "seconds": how long the snippet took, which tells how much backoff a resilience sample spent.
$start = hrtime(true);
try {
    $result = ['ok' => true, 'result' => ('run_' . $argv[1])($argv[2])];
} catch (Throwable $e) {
    $result = ['ok' => false, 'error' => get_class($e) . ': ' . $e->getMessage()];
}
$result['seconds'] = (hrtime(true) - $start) / 1e9;
echo json_encode($result, JSON_INVALID_UTF8_SUBSTITUTE);
