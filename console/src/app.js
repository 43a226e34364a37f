// The local stack's console: the whole flow in a browser, with Amplify JS v6 exactly as a
// frontend uses it against AWS (Cognito with SRP, the GraphQL API, its real-time socket). Only
// the three /console/* JSON endpoints are the local stack's own: the Amplify configuration,
// the outbox's latest code for an address, and `userpipe status`.
import { Amplify } from 'aws-amplify';
import { confirmSignUp, deleteUser, fetchAuthSession, signIn, signOut, signUp } from 'aws-amplify/auth';
import { generateClient } from 'aws-amplify/api';

const $ = (id) => document.getElementById(id);
const PAGE = 10;
// The profile (the fields a user edits; contracts/user_fields.py) is the edit form's inputs:
// index.html declares each field once, as a record row, an input and a column of the Admin's
// table, and the queries, the record, the form and the table follow from it.
const PROFILE = [...document.querySelectorAll('#edit-form input[name]')].map((input) => input.name);
// A deleted user's record is a tombstone (`_deleted: true`, no email, name or age) until its
// TTL removes it: every read selects `_deleted` and shows a tombstone as gone.
const FIELDS = `id email ${PROFILE.join(' ')} _version _deleted createdAt updatedAt`;
// What every updateUser selects (codegen's and DataStore's too) and the change publisher's
// publishUser* too: safe for subscriptions. No email: a tombstone has none, a live edit omits it.
const LIVE = `id ${PROFILE.join(' ')} _version _deleted createdAt updatedAt _lastChangedAt`;
const ME = `query Me { me { ${FIELDS} } }`;
const UPDATE = `mutation Update($input: UpdateUserInput!) { updateUser(input: $input) { ${FIELDS} _lastChangedAt } }`;
const LIST = `query List($filter: ModelUserFilterInput, $limit: Int, $nextToken: String) {
  listUsers(filter: $filter, limit: $limit, nextToken: $nextToken) { items { ${FIELDS} } nextToken } }`;
const AUDIT = `query Audit($userId: ID!) { auditTrail(userId: $userId, limit: 20) {
  items { at eventName changedFields oldVersion newVersion } } }`;
const ON_CREATE = `subscription OnCreate($id: String) { onCreateUser(id: $id) { ${LIVE} } }`;
const ON_UPDATE = `subscription OnUpdate($id: String) { onUpdateUser(id: $id) { ${LIVE} } }`;
const ON_DELETE = `subscription OnDelete($id: String) { onDeleteUser(id: $id) { ${LIVE} } }`;
// How long a page that deleted its account waits to hear its record erased (the pipeline's
// CloudTrail event, user_sync, the stream, the change publisher): past it, it stops listening.
const ERASURE_WAIT_MS = 60_000;
// The symbols Cognito counts (developer guide, "Adding user pool password requirements"); a
// space counts too unless it leads or trails. Letters are Basic Latin, digits 0-9.
const SYMBOLS = '^$*.[]{}()?"!@#%&/\\,><\':;|_~`=+-';

let client;
let session = null; // { sub, email, admin }
let live = []; // open subscriptions
let editing = { base: null, dirty: false };
let pages = { tokens: [null], index: 0, next: null, prefix: '' };
let auditOf = null;
let rules = []; // the pool's password policy as checks: { text, hint?, met(password) }
let ownErasure = null; // the signed-in user's onDeleteUser subscription
let farewell = null; // after an account's deletion: { subscription, timer } until its erasure is heard

const notice = (text) => { $('notice').textContent = text; };
const problem = (error) => error?.errors?.[0]?.message ?? error?.message ?? String(error);
const errorType = (error) => error?.errors?.[0]?.errorType ?? error?.name;
const gql = async (query, variables = {}) => (await client.graphql({ query, variables })).data;

const readConfig = async () => (await fetch('/console/config.json')).json();

// Until the configuration is read and the forms wired, a submit does nothing: the browser's
// own would reload the page with the typed password in its address.
const unwired = (event) => event.preventDefault();

async function start() {
  document.addEventListener('submit', unwired);
  const config = await readConfig();
  Amplify.configure(config.amplify);
  client = generateClient();
  showRules(config.password);
  wire();
  document.removeEventListener('submit', unwired);
  pollStatus();
  try { await enter(); } catch { show(null); }
}

// The pool's password policy (config.json's `password`), listed under the field, ticked as the
// password meets each rule and checked before a sign-up is sent, naming every rule it misses:
// Cognito's refusal names one at most (the local stack's, moto's, none).
function showRules(policy) {
  rules = [
    { text: `at least ${policy.minLength} characters`, met: (p) => [...p].length >= policy.minLength },
    policy.requireLowercase && { text: 'a lowercase letter', met: (p) => /[a-z]/.test(p) },
    policy.requireUppercase && { text: 'an uppercase letter', met: (p) => /[A-Z]/.test(p) },
    policy.requireDigits && { text: 'a digit', met: (p) => /[0-9]/.test(p) },
    policy.requireSymbols && {
      text: 'a symbol', hint: `one of ${[...SYMBOLS].join(' ')} or a space inside`,
      met: (p) => [...p.replace(/^ +| +$/g, '')].some((c) => c === ' ' || SYMBOLS.includes(c)),
    },
  ].filter(Boolean);
  $('password-rules').replaceChildren(...rules.map((rule) => (
    Object.assign(document.createElement('li'), { textContent: rule.text }))));
  markRules();
}

function markRules() {
  const password = $('sign-up-password').value;
  rules.forEach((rule, i) => $('password-rules').children[i].classList.toggle('met', rule.met(password)));
}

const unmet = (password) => rules.filter((rule) => !rule.met(password));
const listed = (items) => (items.length < 2 ? items.join('')
  : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

function refusePassword(missing, refusal) {
  const names = missing.map((rule) => (rule.hint ? `${rule.text} (${rule.hint})` : rule.text));
  $('password-problem').textContent = names.length
    ? `The password needs ${listed(names)}.` : `Sign-up refused: ${refusal}`;
  $('sign-up-password').setAttribute('aria-invalid', 'true');
  $('sign-up-password').focus();
}

function clearPasswordProblem() {
  $('password-problem').textContent = '';
  $('sign-up-password').removeAttribute('aria-invalid');
}

function wire() {
  $('sign-up-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = $('sign-up-email').value.trim();
    const password = $('sign-up-password').value;
    const missing = unmet(password);
    if (missing.length) { refusePassword(missing); return; }
    try {
      await signUp({ username: email, password, options: { userAttributes: { email } } });
      $('confirm-email').value = email;
      $('sign-in-email').value = email;
      notice(`Signed up ${email}. A code was "emailed": it is in the local outbox (step 2).`);
      watchOutbox(email);
      $('confirm-code').focus();
    } catch (error) {
      if (errorType(error) !== 'InvalidPasswordException') {
        notice(`Sign-up refused: ${problem(error)}`);
        return;
      }
      // The pool refused what the rules this page read allow: they changed since (a stack
      // restarted with another policy). Read them again and name what the password misses.
      showRules((await readConfig()).password);
      refusePassword(unmet(password), problem(error));
    }
  });
  $('sign-up-password').addEventListener('input', () => { markRules(); clearPasswordProblem(); });
  $('use-code').addEventListener('click', () => {
    $('confirm-code').value = $('outbox-code').textContent;
    $('confirm-code').focus();
  });
  $('confirm-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await confirmSignUp({ username: $('confirm-email').value.trim(),
                            confirmationCode: $('confirm-code').value.trim() });
      notice('Confirmed: the pipeline is creating your record. Sign in to see it (step 3).');
      $('sign-in-password').value = $('sign-up-password').value;
      $('sign-in-password').focus();
    } catch (error) { notice(`Not confirmed: ${problem(error)}`); }
  });
  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await signIn({ username: $('sign-in-email').value.trim(), password: $('sign-in-password').value });
      await enter();
    } catch (error) { notice(`Sign-in refused: ${problem(error)}`); }
  });
  $('sign-out').addEventListener('click', async () => {
    // The sign-in form comes back only once Amplify has dropped the tokens: signing in while
    // they are being revoked would be refused, or lose the new tokens to the old sign-out.
    $('sign-out').disabled = true;
    try { await signOut(); } finally { show(null); $('sign-out').disabled = false; }
    notice('Signed out.');
  });
  for (const field of PROFILE) {
    $(`edit-${field}`).addEventListener('input', () => { editing.dirty = true; });
  }
  $('edit-form').addEventListener('submit', save);
  $('filter-form').addEventListener('submit', (event) => {
    event.preventDefault();
    pages = { tokens: [null], index: 0, next: null, prefix: $('filter-prefix').value.trim() };
    loadUsers();
  });
  $('next-page').addEventListener('click', () => {
    pages.tokens[pages.index + 1] = pages.next;
    pages.index += 1;
    loadUsers();
  });
  $('previous-page').addEventListener('click', () => { pages.index -= 1; loadUsers(); });
  $('delete-start').addEventListener('click', () => askToDelete($('delete-form').hidden));
  $('delete-cancel').addEventListener('click', () => askToDelete(false));
  $('delete-form').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') askToDelete(false);
  });
  $('delete-email').addEventListener('input', clearDeleteProblem);
  $('delete-form').addEventListener('submit', deleteAccount);
}

let outboxTimer;
function watchOutbox(email) {
  clearInterval(outboxTimer);
  const look = async () => {
    const { code } = await (await fetch(`/console/code?email=${encodeURIComponent(email)}`)).json();
    if (!code) return;
    $('outbox-to').textContent = email;
    $('outbox-code').textContent = code;
    $('outbox').hidden = false;
    clearInterval(outboxTimer);
  };
  outboxTimer = setInterval(look, 700);
  look();
}

async function enter() {
  const { tokens } = await fetchAuthSession();
  if (!tokens) throw new Error('not signed in');
  const claims = tokens.idToken.payload;
  const groups = tokens.accessToken.payload['cognito:groups'] ?? [];
  const email = claims.email ?? ($('sign-in-email').value.trim() || claims.sub);
  show({ sub: claims.sub, email, admin: groups.includes('Admin') });
}

// Everything the page holds of a person — what they typed in any form, their record, the
// users and audit trail an Admin read, pending live updates — is dropped whenever who is signed
// in changes, so the next person at this browser sees nothing of the last.
function forget() {
  for (const subscription of live) subscription.unsubscribe();
  live = [];
  ownErasure = null;
  clearInterval(outboxTimer);
  for (const form of document.forms) form.reset();
  markRules();
  clearPasswordProblem();
  $('outbox').hidden = true;
  $('outbox-to').textContent = '';
  $('outbox-code').textContent = '';
  record = null;
  for (const value of $('record').querySelectorAll('dd')) value.textContent = '';
  $('record').hidden = true;
  $('edit-form').hidden = true;
  $('record-waiting').hidden = false;
  $('edit-base').textContent = '';
  $('edit-result').textContent = '';
  $('edit-result').className = '';
  editing = { base: null, dirty: false };
  pages = { tokens: [null], index: 0, next: null, prefix: '' };
  $('users').tBodies[0].replaceChildren();
  $('previous-page').disabled = true;
  $('next-page').disabled = true;
  auditOf = null;
  $('audit-of').textContent = '';
  $('audit').replaceChildren();
  closeDeleteForm();
  $('delete-expected').textContent = '';
}

function show(who) {
  if (who !== session) forget(); // not at start, when nobody was: a form may be being filled
  if (who) stopFarewell();
  session = who;
  $('signed-out').hidden = Boolean(who);
  $('signed-in').hidden = !who;
  $('admin').hidden = !who?.admin;
  $('sign-out').hidden = !who;
  $('who').textContent = who ? `Signed in as ${who.email}${who.admin ? ' (Admin)' : ''}.` : 'Not signed in.';
  if (!who) return;
  notice('');
  $('delete-expected').textContent = who.email;
  const mine = { id: who.sub };
  listen(ON_CREATE, mine, 'onCreateUser', (user) => render(user));
  listen(ON_UPDATE, mine, 'onUpdateUser', (user) => render(user));
  ownErasure = listen(ON_DELETE, mine, 'onDeleteUser', () => erased(who));
  waitForMe();
  if (who.admin) {
    listen(ON_CREATE, {}, 'onCreateUser', (user) => upsertRow(user, true));
    listen(ON_UPDATE, {}, 'onUpdateUser', (user) => {
      if (user._deleted) { removeRow(user); return; }
      upsertRow(user, false);
      if (auditOf === user.id) loadAudit(user.id, auditOf);
    });
    listen(ON_DELETE, {}, 'onDeleteUser', removeRow);
    loadUsers();
  }
}

function listen(query, variables, field, onValue) {
  const subscription = client.graphql({ query, variables }).subscribe({
    next: ({ data }) => data?.[field] && onValue(data[field]),
    error: (error) => {
      if (farewell?.subscription !== subscription) notice(`Live updates stopped (${field}): ${problem(error)}`);
    },
  });
  live.push(subscription);
  return subscription;
}

async function waitForMe() {
  const owner = session;
  while (session === owner && $('record').hidden) {
    const { me } = await gql(ME);
    if (session !== owner) return;
    if (me?._deleted) { erased(owner); return; }
    if (me) { render(me); return; }
    await new Promise((resolve) => setTimeout(resolve, 800));
  }
}

let record = null;
function render(user) {
  if (user._deleted) { erased(session); return; }
  // The first read, the live events and a save's answer can arrive in any order: an older
  // version than the one shown (the first read answered after a save) is not shown.
  if (record && user._version < record._version) return;
  record = { ...record, ...Object.fromEntries(Object.entries(user).filter(([, v]) => v !== undefined)) };
  $('record-waiting').hidden = true;
  $('record').hidden = false;
  $('edit-form').hidden = false;
  if (record.email && session) {
    session.email = record.email;
    $('who').textContent = `Signed in as ${record.email}${session.admin ? ' (Admin)' : ''}.`;
  }
  $('record-id').textContent = record.id;
  $('record-email').textContent = record.email ?? session?.email ?? '';
  for (const field of PROFILE) $(`record-${field}`).textContent = record[field] ?? '—';
  $('record-version').textContent = record._version;
  $('record-created').textContent = record.createdAt;
  $('record-updated').textContent = record.updatedAt;
  if (!editing.dirty) {
    editing.base = record._version;
    for (const field of PROFILE) $(`edit-${field}`).value = record[field] ?? '';
    $('edit-base').textContent = `_version ${editing.base}`;
  }
}

async function save(event) {
  event.preventDefault();
  const owner = session;
  const result = $('edit-result');
  const input = { id: session.sub, _version: editing.base };
  for (const field of PROFILE) {
    const box = $(`edit-${field}`);
    const value = box.value.trim();  // an emptied box clears the field
    input[field] = value === '' ? null : box.type === 'number' ? Number(value) : value;
  }
  try {
    const { updateUser } = await gql(UPDATE, { input });
    if (session !== owner) return;
    editing.dirty = false;
    render(updateUser);
    result.className = 'good';
    result.textContent = `Saved: your record is at _version ${updateUser._version}.`;
  } catch (error) {
    if (session !== owner) return;
    result.className = 'bad';
    if (errorType(error) === 'ConflictUnhandled') {
      const current = error.errors[0].data ?? {};
      editing.dirty = false;
      render(current);
      result.textContent = `Conflict: your record was changed elsewhere (another tab or an Admin) ` +
        `and is now at _version ${current._version}. Your edit was not saved; the form shows the ` +
        `current values — make your change again and save.`;
    } else {
      result.textContent = `Not saved: ${problem(error)}`;
    }
  }
}

async function loadUsers() {
  const owner = session;
  const filter = pages.prefix ? { email: { beginsWith: pages.prefix } } : null;
  const { listUsers } = await gql(LIST, { filter, limit: PAGE, nextToken: pages.tokens[pages.index] });
  if (session !== owner) return;
  pages.next = listUsers.nextToken;
  // A page may hold fewer rows than PAGE: the API's filter runs after its limit, and a
  // tombstone is nobody to list.
  const people = listUsers.items.filter((user) => user && !user._deleted);
  $('users').tBodies[0].replaceChildren(...people.map((user) => row(user, false)));
  $('previous-page').disabled = pages.index === 0;
  $('next-page').disabled = !pages.next;
}

function row(user, fresh) {
  const tr = document.createElement('tr');
  tr.dataset.id = user.id;
  if (fresh) tr.className = 'fresh';
  for (const key of ['email', ...PROFILE, '_version', 'updatedAt']) {
    const td = document.createElement('td');
    td.dataset.field = key;
    td.dataset.label = key;
    td.textContent = user[key] ?? '—';
    tr.append(td);
  }
  const action = document.createElement('td');
  const button = Object.assign(document.createElement('button'), {
    type: 'button', className: 'link', textContent: 'audit trail',
  });
  button.setAttribute('aria-label', `audit trail of ${user.email ?? user.id}`);
  button.addEventListener('click', () => loadAudit(user.id, user.email ?? user.id));
  action.append(button);
  tr.append(action);
  return tr;
}

function upsertRow(user, created) {
  const body = $('users').tBodies[0];
  const existing = body.querySelector(`tr[data-id="${CSS.escape(user.id)}"]`);
  if (existing) {
    for (const td of existing.querySelectorAll('td[data-field]')) {
      if (user[td.dataset.field] !== undefined) td.textContent = user[td.dataset.field] ?? '—';
    }
    existing.className = 'fresh';
    return;
  }
  if (!created || pages.index !== 0) return;
  // A new user has no email in the live payload's selection: read it (Admin may).
  const owner = session;
  gql(`query Get($id: ID!) { getUser(id: $id) { ${FIELDS} } }`, { id: user.id }).then(({ getUser }) => {
    if (session !== owner || !getUser || getUser._deleted) return;
    if (pages.prefix && !getUser.email?.startsWith(pages.prefix)) return;
    if (!body.querySelector(`tr[data-id="${CSS.escape(user.id)}"]`)) body.prepend(row(getUser, true));
  });
}

// A user's deletion, heard live: their row goes (wherever the list is paged or filtered), and
// an open audit trail of theirs is read again (the erasure redacted it).
function removeRow(user) {
  const gone = $('users').tBodies[0].querySelector(`tr[data-id="${CSS.escape(user.id)}"]`);
  if (gone) {
    gone.remove();
    notice('A user deleted their account: their row is removed and their record erased.');
  }
  if (auditOf === user.id) loadAudit(user.id, user.id);
}

async function loadAudit(userId, label) {
  const owner = session;
  auditOf = userId;
  $('audit-of').textContent = `of ${label}`;
  const { auditTrail } = await gql(AUDIT, { userId });
  if (session !== owner || auditOf !== userId) return;
  $('audit').replaceChildren(...auditTrail.items.map((item) => Object.assign(document.createElement('li'), {
    textContent: `${item.at} ${item.eventName} ${item.changedFields.join(', ')} ` +
      `(v${item.oldVersion ?? '–'} → v${item.newVersion ?? '–'})`,
  })));
}

// "Delete my account": a second step asks for the account's email typed out, so no slip of a
// click deletes it; Cognito's DeleteUser (the user's own access token) then deletes the account
// and Amplify signs this browser out. The pipeline erases the record (a tombstone without email,
// name or age), which this page hears on its own onDeleteUser subscription.
function askToDelete(open) {
  if (open) {
    $('delete-form').hidden = false;
    $('delete-start').setAttribute('aria-expanded', 'true');
    $('delete-email').focus();
    return;
  }
  closeDeleteForm();
  $('delete-start').focus();
}

function closeDeleteForm() {
  $('delete-form').reset();
  $('delete-form').hidden = true;
  $('delete-start').setAttribute('aria-expanded', 'false');
  clearDeleteProblem();
  deleting(false);
}

function clearDeleteProblem() {
  $('delete-problem').textContent = '';
  $('delete-email').removeAttribute('aria-invalid');
}

function deleting(busy) {
  for (const id of ['delete-start', 'delete-confirm', 'delete-cancel', 'sign-out']) $(id).disabled = busy;
  $('delete-confirm').textContent = busy ? 'Deleting…' : 'Delete my account permanently';
}

async function deleteAccount(event) {
  event.preventDefault();
  const owner = session;
  const typed = $('delete-email').value.trim().toLowerCase();
  if (typed !== owner.email.toLowerCase()) {
    $('delete-problem').textContent = `Type your email address, ${owner.email}, to confirm: ` +
      'nothing was deleted.';
    $('delete-email').setAttribute('aria-invalid', 'true');
    $('delete-email').focus();
    return;
  }
  deleting(true);
  // Kept past the sign-out: the subscription is open already (with this user's token), and
  // the erasure it hears carries no personal data (a tombstone).
  const listening = ownErasure;
  try {
    await deleteUser();
  } catch (error) {
    if (session !== owner) return;
    deleting(false);
    $('delete-problem').textContent = `Not deleted: ${problem(error)}. Your account and your ` +
      'record are as they were; try again.';
    $('delete-confirm').focus();
    return;
  }
  if (session !== owner) return; // the erasure was heard first, and signed this page out
  if (listening) {
    live = live.filter((subscription) => subscription !== listening);
    farewell = { subscription: listening, timer: setTimeout(unheard, ERASURE_WAIT_MS) };
  }
  show(null);
  notice(ERASING);
  $('notice').focus();
}

const ERASING = 'Your account was deleted and you are signed out. Your record is being erased…';

function unheard() {
  stopFarewell();
  if ($('notice').textContent !== ERASING) return;
  notice('Your account was deleted and you are signed out. This page has not heard your record ' +
    'erased yet: the pipeline below shows whether it is behind.');
}

// This user's record arrived deleted (this page deleted the account, or another did, or an
// Admin): the account is gone, so is the session.
async function erased(owner) {
  const here = session === owner && owner !== null;
  if (!here && !farewell) return;
  stopFarewell();
  if (here) {
    try { await signOut(); } finally { show(null); }
  }
  notice('Your account was deleted and your record erased: its email, name and age are gone.');
}

function stopFarewell() {
  if (!farewell) return;
  clearTimeout(farewell.timer);
  farewell.subscription.unsubscribe();
  farewell = null;
}

async function pollStatus() {
  try {
    const status = await (await fetch('/console/status')).json();
    $('verdict').textContent = status.verdict;
    $('queues').tBodies[0].replaceChildren(...status.queues.map((queue) => {
      const tr = document.createElement('tr');
      const values = { queue: queue.name, role: queue.role, waiting: queue.visible, 'in flight': queue.in_flight };
      for (const [label, value] of Object.entries(values)) {
        const td = Object.assign(document.createElement('td'), { textContent: value });
        td.dataset.label = label;
        tr.append(td);
      }
      return tr;
    }));
    $('events').replaceChildren(...status.recent.map((event) => Object.assign(document.createElement('li'), {
      textContent: `${event.at} ${event.eventName} ${event.userId} (v${event.newVersion ?? '–'})`,
    })));
  } catch (error) {
    $('verdict').textContent = `status unavailable: ${problem(error)}`;
  }
  setTimeout(pollStatus, 2000);
}

start();
