// The resolver of Mutation.publishUserCreated/Updated/Deleted: a local resolver (NONE data source). It returns
// its input as the mutation's result, and AppSync publishes that result to the subscriptions
// whose @aws_subscribe names the mutation. Nothing is stored: the change is already in the
// User table; services/change_publisher calls this, with IAM, for changes the API did not make.
export function request(ctx) {
  return { payload: ctx.args.input };
}

export function response(ctx) {
  return ctx.result;
}
