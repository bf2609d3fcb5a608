// Runs connection snippets with the real Node clients, one job after another.
// Usage: node run_snippets.cjs JOBS.json  ->  prints {"<job id>": {"ok", "result"|"error"}}
// A job: {"id", "kind", "file", "cwd"}; "file" is a snippet saved as CommonJS with
// `module.exports = {...}` appended by the test.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const JOB_TIMEOUT_MS = 20_000;
const PG_PROBE =
  "SELECT current_user AS user, ssl, current_setting('statement_timeout') AS statement_timeout " +
  "FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

const kinds = {
  async "pg-pool"({ pool }) {
    try {
      return (await pool.query(PG_PROBE)).rows[0];
    } finally {
      await pool.end();
    }
  },
  async "pg-retry"({ pool, withRetry }) {
    try {
      return (await withRetry(() => pool.query(PG_PROBE))).rows[0];
    } finally {
      await pool.end();
    }
  },
  async drizzle({ db, pool }) {
    const { sql } = require("drizzle-orm");
    try {
      const result = await db.execute(sql.raw(PG_PROBE));
      return result.rows[0];
    } finally {
      await pool.end();
    }
  },
  async ioredis({ redis }) {
    try {
      return { ping: await redis.ping(), user: await redis.call("ACL", "WHOAMI") };
    } finally {
      redis.disconnect();
    }
  },
  async bullmq({ queue, worker }) {
    try {
      const client = await queue.client;
      const job = await queue.add("probe", { n: 1 });
      return { ping: await client.ping(), user: await client.call("ACL", "WHOAMI"), job: job.id };
    } finally {
      await queue.obliterate({ force: true }).catch(() => {});
      if (worker) await worker.close();
      await queue.close();
    }
  },
  async dotenv({ file }) {
    // dotenv parses, then dotenv-expand 5.1.0 (the version Prisma's own copy derives from).
    const dotenv = require("dotenv");
    const dotenvExpand = require("dotenv-expand");
    const parsed = dotenv.parse(fs.readFileSync(file));
    return dotenvExpand({ parsed, ignoreProcessEnv: true }).parsed;
  },
};

async function runJob(job) {
  process.chdir(job.cwd);
  const work = job.kind === "dotenv" ? kinds.dotenv(job) : kinds[job.kind](require(job.file));
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${JOB_TIMEOUT_MS} ms`)), JOB_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const results = {};
  for (const job of jobs) {
    try {
      results[job.id] = { ok: true, result: await runJob({ ...job, file: path.resolve(job.file) }) };
    } catch (err) {
      results[job.id] = { ok: false, error: `${err.code ?? ""} ${err.message}`.trim() };
    }
  }
  process.stdout.write(JSON.stringify(results));
  process.exit(0);
}

main();
