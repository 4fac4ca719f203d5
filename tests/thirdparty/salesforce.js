// Drives the Salesforce sandbox with jsforce, logged in with a ready session (the sandbox's
// default session id and its instance URL), over TLS trusted through NODE_EXTRA_CA_CERTS.
// Usage: node salesforce.js query|bulk-insert ; env SALESFORCE_URL, SALESFORCE_SESSION, ARGS.
// Prints one JSON document on stdout; any failure exits non-zero with the error on stderr.
'use strict';
const jsforce = require('jsforce');

const conn = new jsforce.Connection({
  instanceUrl: process.env.SALESFORCE_URL,
  accessToken: process.env.SALESFORCE_SESSION,
  version: '59.0',
});
const args = JSON.parse(process.env.ARGS || '{}');

async function query() {
  const answer = await conn.query(args.soql, { autoFetch: true, maxFetch: 1000000 });
  return { totalSize: answer.totalSize, done: answer.done, records: answer.records.map((r) => r.Email) };
}

async function bulkInsert() {
  // Bulk API 2.0 ingest: create the job, PUT the CSV as a stream (chunked), close, poll, results.
  const results = await conn.bulk2.loadAndWaitForResults({
    object: args.object,
    operation: 'insert',
    input: args.csv,
    pollInterval: 100,
    pollTimeout: 30000,
  });
  return {
    successful: results.successfulResults.map((r) => r.sf__Id),
    failed: results.failedResults.map((r) => r.sf__Error),
    unprocessed: results.unprocessedRecords.length,
  };
}

const commands = { query, 'bulk-insert': bulkInsert };
commands[process.argv[2]]()
  .then((out) => process.stdout.write(JSON.stringify(out)))
  .catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
