// A frontend's Amplify JS v6 code, unchanged, against a userpipe stack (here: the local stack).
// Usage: node amplify_flow.mjs <outputs.json> <email> <password>
// Prints one JSON line with what each step saw.
import { readFileSync } from 'node:fs';
import { Amplify } from 'aws-amplify';
import { confirmSignUp, fetchAuthSession, signIn, signOut, signUp } from 'aws-amplify/auth';
import { generateClient } from 'aws-amplify/api';

const [outputsPath, email, password] = process.argv.slice(2);
const outputs = JSON.parse(readFileSync(outputsPath, 'utf8'));
Amplify.configure(JSON.parse(readFileSync(outputs.amplify_config_path, 'utf8')));

const code = () => {
  const sent = readFileSync(outputs.outbox_path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.to === email.toLowerCase() && entry.kind === 'sign-up');
  return sent[sent.length - 1].code;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seen = {};

const signedUp = await signUp({ username: email, password, options: { userAttributes: { email } } });
seen.signUpStep = signedUp.nextStep.signUpStep;
seen.codeSentBy = signedUp.nextStep.codeDeliveryDetails?.deliveryMedium;
try {
  await confirmSignUp({ username: email, confirmationCode: code() === '000000' ? '111111' : '000000' });
  seen.wrongCode = 'accepted';
} catch (error) {
  seen.wrongCode = error.name;
}
const confirmed = await confirmSignUp({ username: email, confirmationCode: code() });
seen.confirmed = confirmed.isSignUpComplete;
const signedIn = await signIn({ username: email, password }); // SRP, Amplify's default flow
seen.signedIn = signedIn.isSignedIn;
const session = await fetchAuthSession();
seen.sub = session.tokens.accessToken.payload.sub;

const client = generateClient();
const ME = 'query Me { me { id email _version } }';
for (let attempt = 0; attempt < 100; attempt += 1) {
  const answer = await client.graphql({ query: ME });
  if (answer.data.me) {
    seen.me = answer.data.me;
    break;
  }
  await sleep(100);
}
const EDIT = `mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name _version }
}`;
const edited = await client.graphql({
  query: EDIT,
  variables: { input: { id: seen.sub, name: 'From Amplify', _version: 1 } },
});
seen.edited = edited.data.updateUser;
try {
  await client.graphql({
    query: EDIT,
    variables: { input: { id: seen.sub, name: 'Stale', _version: 1 } },
  });
  seen.stale = 'accepted';
} catch (failure) {
  // Amplify rejects with { data, errors } when the answer carries errors.
  seen.stale = { errorType: failure.errors[0].errorType, data: failure.errors[0].data };
}
await signOut();
try {
  await client.graphql({ query: ME });
  seen.signedOut = 'answered';
} catch (failure) {
  seen.signedOut = failure.name ?? String(failure);
}
console.log(JSON.stringify(seen));
