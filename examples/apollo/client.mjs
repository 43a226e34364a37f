// Apollo Client 3 for queries and mutations, Amplify for sign-in and subscriptions, against
// userpipe's AppSync API: the split AWS's "Migrate from DataStore" guide recommends
// (https://docs.amplify.aws/gen1/react/build-a-backend/more-features/datastore/migrate-from-datastore/set-up-apollo/).
// The API keeps DataStore's conflict detection, so every read selects _version, _deleted and
// _lastChangedAt, every update sends the _version it read, and lists drop _deleted items.
//
// In a browser app, import the same names from 'aws-amplify', 'aws-amplify/auth',
// 'aws-amplify/api', '@apollo/client' and '@apollo/client/link/context'. Node needs require:
// @apollo/client 3 has no "exports" map, so an ESM import of '@apollo/client/core' fails with
// ERR_UNSUPPORTED_DIR_IMPORT (node_modules/@apollo/client/core/package.json has only "main":
// core.cjs and "module"), and Amplify comes through require too, as tests/clients/amplify_client.mjs
// does, so that every file of a Node app configures and reads one Amplify singleton.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Amplify } = require('aws-amplify');
const { fetchAuthSession } = require('aws-amplify/auth');
const { generateClient } = require('aws-amplify/api');
const { ApolloClient, HttpLink, InMemoryCache, from, gql } = require('@apollo/client/core');
const { setContext } = require('@apollo/client/link/context');

/** Configures Amplify with the file the local stack writes (`amplify_config_path` in its
 * outputs: Cognito's endpoint and the GraphQL URL); returns that configuration. */
export function configureAmplify(outputsPath) {
  const outputs = JSON.parse(readFileSync(outputsPath, 'utf8'));
  const config = JSON.parse(readFileSync(outputs.amplify_config_path, 'utf8'));
  Amplify.configure(config);
  return config;
}

// Sources for apollo-client: setContext calls its setter with the operation and its context and
// merges the answer into the context (node_modules/@apollo/client/link/context/index.js);
// HttpLink sends `headers` from that context with the global fetch (link/http/createHttpLink.js:
// backupFetch), which in Node trusts NODE_EXTRA_CA_CERTS; fetchAuthSession refreshes the tokens
// when the ID or access token has expired (@aws-amplify/auth dist/esm/providers/cognito/
// tokenProvider/TokenOrchestrator.mjs, getTokens); InMemoryCache's default id is
// "<__typename>:<id>" (@apollo/client/cache/inmemory/helpers.js, defaultDataIdFromObject).
// Which token: AWS's guide sends `session.tokens?.idToken`, and so does this example; Amplify's
// own GraphQL client sends the access token (@aws-amplify/api-graphql dist/esm/internals/
// graphqlAuth.mjs); AppSync in user-pool mode and the local stack take either
// (userpipe/local/graphql.py and jwt_verification.py: token_use id or access).
// snippet: apollo-client
// Each request carries the signed-in user's Cognito ID token as `authorization` (no "Bearer"),
// as AWS's guide does; the API also takes the access token, which Amplify's own client sends.
const authLink = setContext(async (_, { headers }) => {
  const { tokens } = await fetchAuthSession(); // refreshes an expired token first
  return { headers: { ...headers, authorization: tokens?.idToken?.toString() ?? '' } };
});

export function createApolloClient(config) {
  return new ApolloClient({
    link: from([authLink, new HttpLink({ uri: config.API.GraphQL.endpoint })]),
    cache: new InMemoryCache(), // keys each User by __typename and id
  });
}
// end snippet

// Sources for apollo-query: AWS's guide selects `_version _deleted _lastChangedAt` in a fragment and
// filters lists with `items.filter(post => !post._deleted)` ("List queries return soft-deleted
// records"); userpipe's listUsers pages with nextToken, at most 100 items by default, and an
// Admin's holds deleted users' tombstones (docs/api.md). InMemoryCache adds __typename to every
// selection set (@apollo/client/cache/inmemory/inMemoryCache.js, addTypenameTransform), so each
// User lands in the cache under its id.
// snippet: apollo-query
export const USER_FIELDS = gql`
  fragment UserFields on User {
    id email owner name age createdAt updatedAt _version _deleted _lastChangedAt
  }
`;
const LIST_USERS = gql`
  query ListUsers($nextToken: String) {
    listUsers(limit: 100, nextToken: $nextToken) { items { ...UserFields } nextToken }
  }
  ${USER_FIELDS}
`;
export const GET_USER = gql`
  query GetUser($id: ID!) { getUser(id: $id) { ...UserFields } }
  ${USER_FIELDS}
`;

/** Every item the caller may read, page by page: a deleted user's tombstone included. */
export async function listUsers(apollo) {
  const items = [];
  let nextToken = null;
  do {
    const { data } = await apollo.query({ // always the server's answer, never a cached page
      query: LIST_USERS, variables: { nextToken }, fetchPolicy: 'network-only',
    });
    items.push(...data.listUsers.items);
    ({ nextToken } = data.listUsers);
  } while (nextToken);
  return items;
}

/** What a screen shows: the users, without tombstones. */
export async function liveUsers(apollo) {
  return (await listUsers(apollo)).filter((user) => user && !user._deleted);
}

export async function getUser(apollo, id) {
  const { data } = await apollo.query({ query: GET_USER, variables: { id } });
  return data.getUser?._deleted ? null : data.getUser;
}
// end snippet

// Sources for apollo-mutate: AWS's guide: "All mutations require `_version` in the input (except
// creates)", and ConflictUnhandled means "Re-query and retry"; userpipe's API answers a stale
// _version with errorType ConflictUnhandled and the server's item as the error's `data`
// (docs/api.md, "How errors travel"). With the default errorPolicy "none", apollo.mutate
// rejects with an ApolloError whose graphQLErrors are the response's errors as sent, with
// errorType and data (@apollo/client/core/QueryManager.js mutate; utilities/common/
// errorHandling.js, getGraphQLErrorsFromResult), and writes nothing to the cache.
// snippet: apollo-mutate
export const UPDATE_USER = gql`
  mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { ...UserFields } }
  ${USER_FIELDS}
`;

/** Sends `changes` with the `_version` that `user` was read at. If someone changed the user
 * since, the API answers ConflictUnhandled with the server's item as the error's `data`: this
 * retries once on that item's `_version` (the last edit wins); a second conflict is thrown,
 * for the caller to show the server's item. */
export async function updateUser(apollo, user, changes) {
  const update = async (_version) => (await apollo.mutate({
    mutation: UPDATE_USER, variables: { input: { id: user.id, ...changes, _version } },
  })).data.updateUser;
  try {
    return await update(user._version);
  } catch (error) {
    const conflict = error.graphQLErrors?.find((e) => e.errorType === 'ConflictUnhandled');
    if (!conflict?.data) throw error;
    return await update(conflict.data._version);
  }
}
// end snippet

// Sources for apollo-subscribe: AWS's guide subscribes through Amplify's generateClient().graphql,
// never Apollo's WebSocketLink ("Do NOT use graphql-ws, subscriptions-transport-ws, or Apollo's
// WebSocketLink with AppSync"). Amplify takes a DocumentNode as well as a string and prints it
// (@aws-amplify/api-graphql dist/esm/internals/InternalGraphQLAPI.mjs), and opens
// <endpoint>/realtime as wss:// (dist/esm/Providers/AWSWebSocketProvider/appsyncUrl.mjs) with
// the access token (AWSWebSocketProvider/authHeaders.mjs). AWS's guide passes `$owner` to an
// owner's subscription; userpipe's API takes the owner's `id` or none: without it an owner hears
// their own record, an Admin everyone's (docs/api.md, "Subscriptions"). A subscriber receives
// the fields the *mutation* selected (AppSync's rule; docs/api.md): the pipeline's publications
// select every field, a client's edit what its client chose — so USER_FIELDS, which UPDATE_USER
// selects, is every field the API serves (a Gen 2 subscriber drops an event missing a non-null
// one), and the subscription asks only which user changed.
// snippet: apollo-subscribe
const ON_UPDATE_USER = gql`
  subscription OnUpdateUser { onUpdateUser { id _version } }
`;

/** Refreshes Apollo's cache from the server whenever AppSync announces a newer version of a
 * user, so every query showing that user updates. Without an `id`, an owner hears their own
 * record and an Admin everyone's. The announcement carries only the fields the *writer's*
 * mutation selected (a DataStore client's may not select email), so the cache is not written
 * from it: the user is read again. */
export function followUserUpdates(apollo) {
  return generateClient().graphql({ query: ON_UPDATE_USER }).subscribe({
    next: ({ data: { onUpdateUser: changed } }) => {
      const id = apollo.cache.identify({ __typename: 'User', id: changed.id });
      const cached = apollo.cache.readFragment({ id, fragment: USER_FIELDS });
      if (cached && cached._version >= changed._version) return; // nothing newer
      apollo.query({ query: GET_USER, variables: { id: changed.id }, fetchPolicy: 'network-only' })
        .catch((error) => console.error('reading the changed user failed', error));
    },
    error: (error) => console.error('onUpdateUser failed', JSON.stringify(error)),
  });
}
// end snippet
