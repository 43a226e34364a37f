// Runs examples/apollo/client.mjs against a userpipe stack, one JSON line per step:
//   NODE_EXTRA_CA_CERTS=.userpipe/tls/ca.pem node --experimental-websocket \
//     examples/apollo/main.mjs .userpipe/outputs.json <list|edit> <email> <password>
//   list: sign in, list the users (every item, then without tombstones)
//   edit: the same, then read your user, rename it with its _version, send an edit with a stale
//         _version (ConflictUnhandled), let updateUser's retry land, subscribe to onUpdateUser,
//         and wait until someone else's edit of your user shows in Apollo's cache
// Node 20 has a global WebSocket (which Amplify's subscriptions open) only behind
// --experimental-websocket; NODE_EXTRA_CA_CERTS makes Node trust the local stack's CA.
import { createRequire } from 'node:module';
import {
  GET_USER, UPDATE_USER, USER_FIELDS, configureAmplify, createApolloClient, followUserUpdates,
  getUser, listUsers, liveUsers, updateUser,
} from './client.mjs';

const require = createRequire(import.meta.url);
const { fetchAuthSession, signIn } = require('aws-amplify/auth');
const { Hub } = require('aws-amplify/utils');

const [outputsPath, scenario, email, password] = process.argv.slice(2);
const say = (step, value = {}) => console.log(JSON.stringify({ step, ...value }));
const summary = (users) => ({
  ids: users.map((user) => user.id),
  deleted: users.filter((user) => user._deleted).map((user) => user.id),
});

const apollo = createApolloClient(configureAmplify(outputsPath));
await signIn({ username: email, password });
const { tokens } = await fetchAuthSession();
const sub = tokens.idToken.payload.sub;
say('signed-in', { sub, groups: tokens.idToken.payload['cognito:groups'] ?? [] });
// What every read and UPDATE_USER select (a subscriber of someone else's gets what an edit selected).
say('fields', { fields: USER_FIELDS.definitions[0].selectionSet.selections.map((f) => f.name.value) });

say('listUsers', summary(await listUsers(apollo)));
say('liveUsers', summary(await liveUsers(apollo)));

if (scenario === 'edit') {
  const read = await getUser(apollo, sub);
  say('getUser', { user: read });
  const renamed = await updateUser(apollo, read, { name: 'Ada' });
  say('updateUser', { user: renamed });

  // `read` is out of date now: sent as it is, its _version is refused with the server's item.
  try {
    await apollo.mutate({
      mutation: UPDATE_USER, variables: { input: { id: sub, name: 'Stale', _version: read._version } },
    });
    say('stale', { accepted: true });
  } catch (error) {
    const [first] = error.graphQLErrors ?? [];
    say('stale', { errorType: first?.errorType, data: first?.data, message: error.message });
  }
  // updateUser meets the same conflict and retries once on the server's _version.
  const retried = await updateUser(apollo, read, { name: 'Ada Lovelace' });
  say('retried', { user: retried });

  // Amplify announces on its Hub ('api' channel) when AppSync acknowledged the subscription
  // (CONTROL_MSG.SUBSCRIPTION_ACK, @aws-amplify/api-graphql dist/esm/Providers/AWSWebSocketProvider).
  const acked = new Promise((resolve) => {
    const stop = Hub.listen('api', ({ payload }) => {
      if (payload.event === 'Subscription ack') { stop(); resolve(); }
    });
  });
  const following = followUserUpdates(apollo);
  await acked;
  say('subscribed');

  // As a screen would: watch the cached query until a newer _version than ours shows up.
  const shown = await new Promise((resolve) => {
    const watching = apollo.watchQuery({
      query: GET_USER, variables: { id: sub }, fetchPolicy: 'cache-only',
    }).subscribe(({ data }) => {
      if (data?.getUser?._version > retried._version) { watching.unsubscribe(); resolve(data.getUser); }
    });
  });
  say('cache', {
    user: shown,
    fragment: apollo.cache.readFragment({
      id: apollo.cache.identify({ __typename: 'User', id: sub }), fragment: USER_FIELDS,
    }),
  });
  following.unsubscribe();
}
process.exit(0); // Amplify's open socket and token timers would keep Node running
