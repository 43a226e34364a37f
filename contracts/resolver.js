// The AppSync resolver code of every root field (APPSYNC_JS, on the Lambda data source).
//
// It invokes the Python resolver (services/user_api) with what a direct Lambda resolver would
// receive, and turns the answer into the field's value or a GraphQL error. The Python resolver
// returns errors as a value, {"error": {"type", "message", "data"}}, because AppSync shows an
// error thrown by a Lambda only as "Lambda:Unhandled" and cannot attach data to it; util.error
// here sets errorType and data (e.g. ConflictUnhandled with the server's item). The contract is
// contracts/appsync.py (RESULT_KEY, ERROR_KEY); the local stack's GraphQL endpoint applies the
// same one, and a test runs this file in Node against it. A subscription field's answer may
// carry subscriptionFilter (Amplify's filter input shape): it becomes the subscription's
// enhanced filter (extensions.setSubscriptionFilter, util.transform.toSubscriptionFilter).
import { extensions, util } from '@aws-appsync/utils';

export function request(ctx) {
  return {
    operation: 'Invoke',
    payload: {
      arguments: ctx.arguments,
      identity: ctx.identity,
      source: ctx.source,
      request: ctx.request,
      info: ctx.info,
      prev: ctx.prev,
      stash: ctx.stash,
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const answer = ctx.result || {};
  if (answer.error) {
    util.error(answer.error.message, answer.error.type, answer.error.data);
  }
  if (answer.subscriptionFilter) {
    extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(answer.subscriptionFilter));
  }
  return answer.data;
}
