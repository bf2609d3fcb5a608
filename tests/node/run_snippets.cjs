// Runs connection snippets with the real Node clients, one job after another.
// Usage: node --import tsx/dist/loader.mjs run_snippets.cjs JOBS.json
//   -> prints {"<job key>": {"ok", "result"|"error"}}
// A job: {"key", "kind", "file", "cwd"}. "file" is a snippet saved as CommonJS with
// `module.exports = {...}` appended by the test, or a Prisma client module (TypeScript, its
// own exports) loaded through tsx. A client that fails reports its first error at once, so a
// refused certificate is not retried until the job's timeout.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const JOB_TIMEOUT_MS = 20_000;
const PG_PROBE =
  "SELECT current_user AS user, ssl, current_setting('statement_timeout') AS statement_timeout " +
  "FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

// Rejects with the first "error" event of an EventEmitter (ioredis, BullMQ, node-redis).
const firstError = (emitter) => new Promise((_, reject) => emitter.once("error", reject));

async function valkeyProbe(client) {
  return { ping: await client.ping(), user: await client.call("ACL", "WHOAMI") };
}

const kinds = {
  async "pg-pool"({ pool, withRetry }) {
    try {
      const query = () => pool.query(PG_PROBE);
      return (await (withRetry ? withRetry(query) : query())).rows[0];
    } finally {
      await pool.end();
    }
  },
  async drizzle({ db, pool }) {
    const { sql } = require("drizzle-orm");
    try {
      return (await db.execute(sql.raw(PG_PROBE))).rows[0];
    } finally {
      await pool.end();
    }
  },
  async "postgres-js"({ sql, withRetry }) {
    try {
      const query = () => sql.unsafe(PG_PROBE);
      return (await (withRetry ? withRetry(query) : query()))[0];
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
  async prisma({ prisma, withRetry }) {
    try {
      const query = () => prisma.$queryRawUnsafe(PG_PROBE);
      return (await (withRetry ? withRetry(query) : query()))[0];
    } finally {
      await prisma.$disconnect();
    }
  },
  async ioredis({ redis }) {
    try {
      return await Promise.race([valkeyProbe(redis), firstError(redis)]);
    } finally {
      redis.disconnect();
    }
  },
  async "node-redis"({ client }) {
    try {
      await Promise.race([client.connect(), firstError(client)]);
      return { ping: await client.ping(), user: await client.sendCommand(["ACL", "WHOAMI"]) };
    } finally {
      client.destroy();
    }
  },
  async bullmq({ queue, worker }) {
    let added = false;
    try {
      const probe = async () => {
        const client = await queue.client;
        const job = await queue.add("probe", { n: 1 });
        added = true;
        return { ...(await valkeyProbe(client)), job: job.id };
      };
      return await Promise.race([probe(), firstError(queue)]);
    } finally {
      // close() and disconnect() wait for a connection a refused certificate never gives:
      // a refused queue keeps retrying until process.exit() ends this runner.
      if (added) {
        await queue.obliterate({ force: true });
        if (worker) await worker.close();
        await queue.close();
      }
    }
  },
};

async function load(file) {
  return file.endsWith(".ts") ? import(file) : require(file);
}

async function runJob(job) {
  process.chdir(job.cwd);
  // Each Prisma project's `import "dotenv/config"` fills this from its own .env (run with
  // --preserve-symlinks, each project's node_modules link gives it a module of its own).
  if (job.kind === "prisma") delete process.env.DATABASE_URL;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${JOB_TIMEOUT_MS} ms`)), JOB_TIMEOUT_MS);
  });
  try {
    return await Promise.race([load(job.file).then(kinds[job.kind]), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const results = {};
  for (const job of jobs) {
    const started = Date.now();
    try {
      results[job.key] = { ok: true, result: await runJob({ ...job, file: path.resolve(job.file) }) };
    } catch (err) {
      results[job.key] = { ok: false, error: `${err.code ?? ""} ${err.message}`.trim() };
    }
    results[job.key].ms = Date.now() - started;
  }
  process.stdout.write(JSON.stringify(results));
  process.exit(0);
}

main();
