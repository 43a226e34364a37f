// A frontend's Amplify JS v6 code against a userpipe stack, with the documents Amplify codegen
// emits for the recipe's model (tests/amplify/*.graphql) and DataStore with its model schema.
// Usage: node --experimental-websocket amplify_client.mjs <outputs.json> <scenario> <email> <password>
//   scenario "api":       getUser, listUsers with a filter, updateUser with _version and stale,
//                         syncUsers full then delta, then onUpdateUser(id) until one arrives
//   scenario "admin":     onCreateUser without id until one arrives
//   scenario "datastore": DataStore syncs, saves an edit, then a second edit whose mutation is
//                         held until the test says "go" (a concurrent edit happens meanwhile)
//   scenario "datastore-side-by-side": DataStore syncs, then saves, holds and reports at the
//                         test's word, beside a Gen 2 client on the same user (gen2_client.mjs)
// Prints one JSON line per step ({"step": ...}); reads "go" lines on stdin when it waits.
// Node 20 has WebSocket only behind --experimental-websocket (Amplify needs it for wss://);
// NODE_EXTRA_CA_CERTS makes Node trust the local stack's CA.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { parse, print } from 'graphql';
import { schema } from './models/schema.mjs';

// Every Amplify package through require: @aws-amplify/datastore ships no ESM entry for Node (no
// "exports"), so it loads @aws-amplify/core as CommonJS; importing aws-amplify as ESM would
// configure a second, separate Amplify singleton and DataStore would see no endpoint.
const require = createRequire(import.meta.url);
const { Amplify } = require('aws-amplify');
const { fetchAuthSession, signIn } = require('aws-amplify/auth');
const { generateClient } = require('aws-amplify/api');
const { ConsoleLogger, Hub } = require('aws-amplify/utils');
const { DataStore, initSchema } = require('@aws-amplify/datastore');

const [outputsPath, scenario, email, password] = process.argv.slice(2);
if (process.env.AMPLIFY_DEBUG) ConsoleLogger.LOG_LEVEL = 'DEBUG'; // to stderr, for diagnosis
const outputs = JSON.parse(readFileSync(outputsPath, 'utf8'));
Amplify.configure(JSON.parse(readFileSync(outputs.amplify_config_path, 'utf8')));

const statements = {};
for (const file of ['queries', 'mutations', 'subscriptions']) {
  const text = readFileSync(new URL(`../amplify/${file}.graphql`, import.meta.url), 'utf8');
  for (const definition of parse(text).definitions) statements[definition.name.value] = print(definition);
}
const say = (step, value = {}) => console.log(JSON.stringify({ step, ...value }));
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const heard = async (word) => {
  const { value } = await lines.next();
  if (value !== word) throw new Error(`expected "${word}" on stdin, got "${value}"`);
};
const failure = (e) => ({
  errorType: e?.errors?.[0]?.errorType,
  data: e?.errors?.[0]?.data,
  message: e?.errors?.[0]?.message ?? String(e),
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const hubEvent = (channel, matches) => new Promise((resolve) => {
  const stop = Hub.listen(channel, ({ payload }) => {
    if (matches(payload)) { stop(); resolve(payload); }
  });
});

await signIn({ username: email, password });
const { tokens } = await fetchAuthSession();
const sub = tokens.idToken.payload.sub;
say('signed-in', {
  sub, username: tokens.idToken.payload['cognito:username'], email: tokens.idToken.payload.email,
});
const client = generateClient();
const gql = (name, variables = {}) => client.graphql({ query: statements[name], variables });

// The first value of a codegen'd subscription; resolves once AppSync (or the stack) acked it.
const firstOf = async (name, variables) => {
  const acked = hubEvent('api', (payload) => payload.event === 'Subscription ack');
  let subscription;
  const value = new Promise((resolve, reject) => {
    subscription = gql(name, variables).subscribe({
      next: ({ data }) => resolve(data),
      error: (e) => reject(new Error(JSON.stringify(failure(e)))),
    });
  });
  await acked;
  return { value, stop: () => subscription.unsubscribe() };
};

if (scenario === 'api') {
  const mine = (await gql('GetUser', { id: sub })).data.getUser;
  say('getUser', { user: mine });
  const everyone = (await gql('ListUsers', { filter: { id: { attributeExists: true } } })).data.listUsers;
  const nobody = (await gql('ListUsers', { filter: { age: { gt: 150 } } })).data.listUsers;
  say('listUsers', { ids: everyone.items.map((u) => u.id), filteredOut: nobody.items.length });
  const full = (await gql('SyncUsers', { lastSync: null })).data.syncUsers;
  say('syncFull', { ids: full.items.map((u) => u.id), startedAt: full.startedAt, nextToken: full.nextToken });
  const updated = (await gql('UpdateUser', { input: { id: sub, name: 'Codegen', _version: mine._version } })).data.updateUser;
  say('updateUser', { user: updated });
  try {
    await gql('UpdateUser', { input: { id: sub, name: 'Stale', _version: mine._version } });
    say('stale', { accepted: true });
  } catch (e) {
    say('stale', failure(e));
  }
  await sleep(5); // the delta must see a change strictly after the full sync's startedAt
  const delta = (await gql('SyncUsers', { lastSync: full.startedAt })).data.syncUsers;
  const quiet = (await gql('SyncUsers', { lastSync: delta.startedAt })).data.syncUsers;
  say('syncDelta', {
    items: delta.items.map((u) => ({ id: u.id, _version: u._version })),
    startedAt: delta.startedAt,
    afterDelta: quiet.items.length,
  });
  const update = await firstOf('OnUpdateUser', { id: sub });
  say('subscribed');
  say('onUpdateUser', { user: (await update.value).onUpdateUser });
  update.stop();
} else if (scenario === 'admin') {
  const created = await firstOf('OnCreateUser', {});
  say('subscribed');
  say('onCreateUser', { user: (await created.value).onCreateUser });
  created.stop();
} else if (scenario === 'datastore' || scenario === 'datastore-side-by-side') {
  // Hold the next updateUser request until the test has made a concurrent edit, and count
  // every updateUser and every conflict the API answers; Amplify calls the global fetch for each.
  const realFetch = globalThis.fetch;
  let hold = false;
  const sent = []; // every updateUser's input
  const conflicts = [];
  globalThis.fetch = async (url, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    const isUpdate = body.includes('updateUser(');
    if (isUpdate && hold) {
      hold = false;
      say('mutation-held', { variables: JSON.parse(body).variables });
      await heard('go');
    }
    if (isUpdate) sent.push(JSON.parse(body).variables.input);
    const response = await realFetch(url, init);
    if (isUpdate) {
      const answer = await response.clone().json();
      if (answer.errors?.[0]?.errorType === 'ConflictUnhandled') conflicts.push(answer.errors[0]);
    }
    return response;
  };
  const { User } = initSchema(schema);
  // DataStore picks its storage with `isBrowser && window.indexedDB` (getDefaultAdapter in
  // @aws-amplify/datastore 5.1.13): isBrowser is a function, never called, so outside a
  // browser that reads `window` and throws. Naming the adapter it would fall back to — the
  // in-memory AsyncStorageAdapter — is what a Node app does.
  const { default: inMemory } = require('@aws-amplify/datastore/dist/cjs/storage/adapter/AsyncStorageAdapter.js');
  DataStore.configure({ storageAdapter: inMemory });
  const outboxEmpty = () => hubEvent('datastore', (p) => p.event === 'outboxStatus' && p.data.isEmpty);
  const ready = hubEvent('datastore', (p) => p.event === 'ready');
  // Every DataStore event to stderr: the test shows it when a step does not come.
  Hub.listen('datastore', ({ payload }) => console.error('datastore', JSON.stringify(payload)));
  await DataStore.start();
  await ready;
  const synced = await DataStore.query(User, sub);
  say('synced', { user: synced, count: (await DataStore.query(User)).length });

  if (scenario === 'datastore') {
    let emptied = outboxEmpty();
    await DataStore.save(User.copyOf(synced, (draft) => { draft.name = 'From DataStore'; }));
    await emptied;
    await sleep(300);
    const saved = await DataStore.query(User, sub);
    say('saved', { user: saved });

    hold = true;
    emptied = outboxEmpty();
    await DataStore.save(User.copyOf(saved, (draft) => { draft.age = 41; }));
    await emptied;
    // Let the subscription deliver the concurrent edit too, then read what DataStore holds.
    await sleep(1500);
    const settled = await DataStore.query(User, sub);
    say('resolved', { user: settled, conflicts });
  } else {
    // Beside a Gen 2 client on the same user (gen2_client.mjs "side-by-side"), at the test's
    // word: "save <field> <value>", "hold" (the next updateUser waits for "go"), "await <field>
    // <value>" (until DataStore holds it), "show", "done".
    const state = async () => ({
      user: await DataStore.query(User, sub), sent, conflicts: conflicts.length,
    });
    for (let word = (await lines.next()).value; word && word !== 'done'; word = (await lines.next()).value) {
      const [command, field, text] = word.split(' ');
      const value = field === 'age' || field === '_version' ? Number(text) : text;
      if (command === 'hold') {
        hold = true;
      } else if (command === 'save') {
        const emptied = outboxEmpty();
        const current = await DataStore.query(User, sub);
        await DataStore.save(User.copyOf(current, (draft) => { draft[field] = value; }));
        await emptied;
        say('saved', await state());
      } else if (command === 'await') {
        while ((await DataStore.query(User, sub))?.[field] !== value) await sleep(50);
        say('state', await state());
      } else {
        say('state', await state());
      }
    }
  }
  await DataStore.stop();
}
process.exit(0); // open sockets would keep Node running
