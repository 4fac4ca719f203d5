// Drives the HubSpot sandbox with HubSpot's own Node SDK (@hubspot/api-client).
// Usage: node hubspot.js list|search|batch-read ; env HUBSPOT_URL, HUBSPOT_TOKEN, ARGS (JSON).
// Prints one JSON document on stdout; any failure exits non-zero with the error on stderr.
'use strict';
const hubspot = require('@hubspot/api-client');

const client = new hubspot.Client({
  accessToken: process.env.HUBSPOT_TOKEN,
  basePath: process.env.HUBSPOT_URL,
  numberOfApiCallRetries: 0,
});
const args = JSON.parse(process.env.ARGS || '{}');

async function list() {
  const ids = [];
  let after;
  let pages = 0;
  do {
    const page = await client.crm.contacts.basicApi.getPage(args.limit, after, ['email']);
    page.results.forEach((c) => ids.push(c.id));
    after = page.paging && page.paging.next ? page.paging.next.after : undefined;
    pages += 1;
  } while (after !== undefined);
  return { ids, pages };
}

async function search() {
  const body = {
    filterGroups: [{ filters: args.filters }],
    sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
    properties: ['email'],
    limit: args.limit,
  };
  const emails = [];
  let total;
  let after;
  do {
    const page = await client.crm.contacts.searchApi.doSearch({ ...body, after });
    total = page.total;
    page.results.forEach((c) => emails.push(c.properties.email));
    after = page.paging && page.paging.next ? page.paging.next.after : undefined;
  } while (after !== undefined);
  return { total, emails };
}

async function batchRead() {
  const answer = await client.crm.contacts.batchApi.read({
    inputs: args.ids.map((id) => ({ id })),
    properties: ['email'],
    propertiesWithHistory: [],
  });
  return {
    status: answer.status,
    found: answer.results.map((c) => ({ id: c.id, email: c.properties.email })),
    errors: (answer.errors || []).map((e) => e.category),
  };
}

const commands = { list, search, 'batch-read': batchRead };
commands[process.argv[2]]()
  .then((out) => process.stdout.write(JSON.stringify(out)))
  .catch((err) => {
    process.stderr.write(`${err.stack || err}\n${err.body ? JSON.stringify(err.body) : ''}\n`);
    process.exit(1);
  });
