// A frontend's Amplify Gen 2 data client (aws-amplify 6.22.1's generateClient, client.models.User)
// against a userpipe stack, configured from the amplify_outputs.json the stack writes.
// Usage: node --experimental-websocket gen2_client.mjs <outputs.json> <scenario> <email> <password>
//   scenario "owner":        get, list (own item only), updates with and without _version, a
//                            stale _version, filters; then onCreate/onUpdate/onDelete and
//                            observeQuery until the owner's own record changes
//   scenario "admin":        list everyone, a filter; then onCreate/onUpdate/onDelete, each
//                            event as a step ("heard"), and observeQuery, each list a step
//                            ("snapshot")
//   scenario "side-by-side": edits the user's record at the test's word ("edit", "stale-edit")
//                            while a DataStore client (amplify_client.mjs) edits it too
// Prints one JSON line per step ({"step": ...}); reads words on stdin when it waits.
// The regions between the marker lines "snippet: <name>" and "end snippet" (whole-line comments)
// are what docs/frontends.md shows.
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
// ESM throughout (one Amplify singleton): no DataStore in this process, which would need every
// Amplify package through require (amplify_client.mjs says why).
import { fetchAuthSession, signIn } from 'aws-amplify/auth';
import { ConsoleLogger, Hub } from 'aws-amplify/utils';

const [outputsPath, scenario, email, password] = process.argv.slice(2);
if (process.env.AMPLIFY_DEBUG) ConsoleLogger.LOG_LEVEL = 'DEBUG'; // to stderr, for diagnosis
// The local stack writes amplify_outputs.json next to its outputs file (amplify_outputs_path);
// a web app imports the file instead (`import outputs from './amplify_outputs.json'`).
// Cognito's local endpoint is the stack's TLS one.
const stack = JSON.parse(readFileSync(outputsPath, 'utf8'));
const outputs = JSON.parse(readFileSync(stack.amplify_outputs_path, 'utf8'));
const localCognito = stack.tls_endpoint_url;

// (Imports are hoisted: the ones below load first, as if at the top of the file.)
// snippet: gen2-configure
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/data';

Amplify.configure(outputs); // the parsed amplify_outputs.json
// Local stack only: amplify_outputs.json has no field for a Cognito endpoint of your own, so
// add the stack's (its tls_endpoint_url, e.g. https://127.0.0.1:4748) to what Amplify parsed.
const parsed = Amplify.getConfig();
Amplify.configure({
  ...parsed, Auth: { Cognito: { ...parsed.Auth.Cognito, userPoolEndpoint: localCognito } },
});
const client = generateClient();
// end snippet

const say = (step, value = {}) => console.log(JSON.stringify({ step, ...value }));
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextWord = async () => (await lines.next()).value;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const brief = (user) => user && {
  id: user.id, name: user.name, age: user.age, _version: user._version, _deleted: user._deleted,
};
// Resolves once the stack acked `count` more subscriptions (Amplify's Hub 'api' channel,
// CONTROL_MSG.SUBSCRIPTION_ACK in @aws-amplify/api-graphql 4.10.1 types/PubSub).
const acks = (count) => new Promise((resolve) => {
  let seen = 0;
  const stop = Hub.listen('api', ({ payload }) => {
    if (payload.event === 'Subscription ack' && ++seen === count) { stop(); resolve(); }
  });
});

await signIn({ username: email, password });
const { tokens } = await fetchAuthSession();
const sub = tokens.idToken.payload.sub;
say('signed-in', { sub, groups: tokens.accessToken.payload['cognito:groups'] ?? [] });

// snippet: gen2-read
// A deleted user's record stays as a tombstone (_deleted: true) for 30 days, which DataStore
// needs; lists include it, so leave it out.
const live = { _deleted: { ne: true } };
const { data: me } = await client.models.User.get({ id: sub });
// Every page: the API filters after its limit, so a page may hold fewer than asked, even none,
// with more to come.
async function listUsers(filter) {
  const users = [];
  let nextToken;
  do {
    const page = await client.models.User.list({ filter, nextToken });
    if (page.errors) throw new Error(`listUsers refused: ${page.errors[0].message}`);
    users.push(...page.data);
    ({ nextToken } = page);
  } while (nextToken);
  return users;
}
const users = await listUsers(live);
// end snippet

// snippet: gen2-update
// Send the _version you read: over a newer one the API refuses the edit with ConflictUnhandled,
// whose data is the record as it is now. Without _version an edit is applied whatever it is.
async function saveProfile(user, changes) {
  const { data, errors } = await client.models.User.update({
    id: user.id, _version: user._version, ...changes,
  });
  const [error] = errors ?? [];
  if (error?.errorType === 'ConflictUnhandled') return { conflict: error.data };
  if (error) throw new Error(`updateUser refused: ${error.errorType}: ${error.message}`);
  return { saved: data };
}
// end snippet


// The three subscriptions with no arguments (Gen 2 sends only `filter`), each event a step.
const subscribeAll = (heard) => ['onCreate', 'onUpdate', 'onDelete'].map((operation) =>
  client.models.User[operation]().subscribe({
    next: (user) => heard(operation, user),
    error: (e) => say('subscription-error', { operation, error: JSON.stringify(e) }),
  }));

if (scenario === 'admin') {
  const all = await listUsers(live);
  say('list', { ids: all.map((u) => u.id) });
  const mine = await client.models.User.list({ filter: { email: { eq: email } } });
  say('list-filtered', { ids: mine.data.map((u) => u.id) });
  const ready = acks(6); // three subscriptions, and observeQuery's own three
  subscribeAll((operation, user) => say('heard', { operation, user: brief(user) }));
  // Every list observeQuery hands over, as a step: the test waits for the one it expects.
  client.models.User.observeQuery().subscribe({ // no _deleted filter: the gen2-subscribe snippet says why
    next: ({ items, isSynced }) => say('snapshot', {
      ids: items.filter((u) => !u._deleted).map((u) => u.id).sort(), isSynced,
    }),
    error: (e) => say('subscription-error', { operation: 'observeQuery', error: JSON.stringify(e) }),
  });
  await ready;
  say('subscribed');
  await nextWord(); // "done"
  process.exit(0);
}
if (scenario === 'side-by-side') {
  // What Gen 2 hears of the DataStore client's edits, and every updateUser it sends.
  let mutations = 0;
  let conflicts = 0;
  const ready = acks(1);
  client.models.User.onUpdate().subscribe({
    next: (user) => say('heard', { user: brief(user) }),
    error: (e) => say('subscription-error', { error: JSON.stringify(e) }),
  });
  await ready;
  let known = me;
  say('subscribed', { user: brief(known) });
  for (let word = await nextWord(); word && word !== 'done'; word = await nextWord()) {
    const [command, field, value] = word.split(' ');
    const changes = { [field]: field === 'age' ? Number(value) : value };
    // "edit": over what it read just now; "stale-edit": over what it read before.
    if (command === 'edit') known = (await client.models.User.get({ id: sub })).data;
    mutations += 1;
    let result = await saveProfile(known, changes);
    if (result.conflict) {
      conflicts += 1;
      mutations += 1;
      result = await saveProfile(result.conflict, changes); // retried once over the current one
    }
    known = result.saved;
    say('edited', { user: brief(known), mutations, conflicts });
  }
  const { data: final } = await client.models.User.get({ id: sub });
  say('final', { user: brief(final), mutations, conflicts });
  process.exit(0);
}

// The owner scenario.
say('get', { user: me, fields: Object.keys(me).sort() });
say('list', { ids: users.map((u) => u.id) });

const versioned = await saveProfile(me, { name: 'From Gen 2' });
say('update-with-version', { user: brief(versioned.saved) });
// No _version: Gen 2's own usage (it has no conflict detection); docs/api.md: unconditional.
const unversioned = await client.models.User.update({ id: sub, age: 30 });
say('update-without-version', { user: brief(unversioned.data), errors: unversioned.errors });
const raw = await client.models.User.update({ id: sub, name: 'Stale', _version: me._version });
const stale = await saveProfile(me, { name: 'Stale' });
say('stale', {
  data: raw.data, errorType: raw.errors?.[0]?.errorType, message: raw.errors?.[0]?.message,
  conflict: brief(stale.conflict),
});
let refused;
try {
  await saveProfile({ id: sub }, { age: 151 });
} catch (e) {
  refused = e.message;
}
say('refused', { message: refused });
// Gen 2's delete sends only the key (@aws-amplify/data-schema 1.26.2 buildGraphQLVariables);
// the API refuses it anyway: a record follows its Cognito account.
const removal = await client.models.User.delete({ id: sub });
say('delete', { data: removal.data, errorType: removal.errors?.[0]?.errorType });

const named = await client.models.User.list({ filter: { and: [live, { name: { eq: 'From Gen 2' } }] } });
const old = await client.models.User.list({ filter: { age: { gt: 150 } } });
say('list-filtered', { named: named.data.map((u) => u.id), tooOld: old.data.length });

const heard = [];
const ready = acks(7); // subscribeAll's three, the snippet's onUpdate, observeQuery's three
const subscriptions = subscribeAll((operation, user) => heard.push({ operation, ...brief(user) }));
const snapshots = [];
let synced;
const firstSynced = new Promise((resolve) => { synced = resolve; });
// snippet: gen2-subscribe
// As the owner: your own record's changes only; as an Admin: everyone's.
const updates = client.models.User.onUpdate().subscribe({
  next: (user) => user && showUser(user), // null: an edit that did not select a required field
  error: (error) => console.error('onUpdate', error),
});
// observeQuery: the list now and after every change (isSynced once the list is read). Leave
// tombstones out here, not with a filter: a deletion arrives as the record with _deleted: true,
// which a _deleted filter would keep from the subscription, and the list would never lose it.
const watch = client.models.User.observeQuery().subscribe({
  next: ({ items, isSynced }) => showUsers(items.filter((user) => !user._deleted), isSynced),
});
// end snippet
function showUser(user) { heard.push({ operation: 'snippet-onUpdate', ...brief(user) }); }
function showUsers(items, done) {
  snapshots.push({ items: items.map(brief), isSynced: done });
  if (done) synced(items);
}
await ready;
say('observe-synced', { items: (await firstSynced).map(brief) });
say('subscribed');
// The test makes other users' changes first, then one to this user's record.
const own = () => heard.some((h) => h.operation === 'onUpdate' && h.id === sub);
while (!own()) await sleep(50);
await sleep(1000); // anything else that was coming has come
say('heard', { heard });
while (!snapshots.some((s) => s.items.some((u) => u.name === 'Edited by an Admin'))) await sleep(50);
say('observed', { last: snapshots.at(-1) });
for (const s of [...subscriptions, updates, watch]) s.unsubscribe();
process.exit(0); // open sockets would keep Node running
