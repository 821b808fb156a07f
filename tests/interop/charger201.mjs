#!/usr/bin/env node
// A foreign OCPP 2.0.1 charging station built on the npm package `ocpp-rpc` in strict mode:
// every request it sends and every answer it receives, and every request the CSMS sends it
// and every answer it gives, is validated against the official OCPP 2.0.1 JSON schemas, so
// a malformed answer or request from the CSMS fails the run.
//
// Usage:
//   node charger201.mjs URL IDENTITY PASSWORD ID_TOKEN
//   (or the environment variables OCPP_URL, OCPP_IDENTITY, OCPP_PASSWORD, OCPP_ID_TOKEN)
//
// URL is the endpoint without the identity, e.g. ws://127.0.0.1:9000/ocpp. ID_TOKEN is
// an RFID card UID (idToken type ISO14443) the CSMS knows.
//
// Output: one JSON object per line on stdout, one per step:
//   {"step": "...", "ok": true|false, "request": ..., "answer": ..., "error": ...}
// and one line per call the CSMS makes ({"step": "csms-call", ...}). After its own session
// it prints {"step": "ready", "transactionId": ...} and stays connected, answering CSMS
// calls, until standard input is closed (or a line "close" arrives), then prints
// {"step": "done", ...}.
// Exit status: 0 when every step passed, 1 on any failure (including a strict-mode
// validation failure of the CSMS's answers or requests), 2 on the overall timeout.
// Environment: OCPP_TIMEOUT_MS (overall limit, default 20000), OCPP_CALL_TIMEOUT_MS
// (per call, default 5000).

import { randomUUID } from 'node:crypto';
import ocppRpc from 'ocpp-rpc';

const { RPCClient } = ocppRpc;

const [argUrl, argIdentity, argPassword, argIdToken] = process.argv.slice(2);
const endpoint = argUrl ?? process.env.OCPP_URL;
const identity = argIdentity ?? process.env.OCPP_IDENTITY;
const password = argPassword ?? process.env.OCPP_PASSWORD;
const idTokenValue = argIdToken ?? process.env.OCPP_ID_TOKEN;
const overallTimeoutMs = Number(process.env.OCPP_TIMEOUT_MS ?? 20000);
const callTimeoutMs = Number(process.env.OCPP_CALL_TIMEOUT_MS ?? 5000);

// OCPP-J 2.0.1 §4.3: the error codes a 2.0.1 CALLERROR may carry.
const V201_ERROR_CODES = new Set([
  'FormatViolation',
  'GenericError',
  'InternalError',
  'MessageTypeNotSupported',
  'NotImplemented',
  'NotSupported',
  'OccurrenceConstraintViolation',
  'PropertyConstraintViolation',
  'ProtocolError',
  'RpcFrameworkError',
  'SecurityError',
  'TypeConstraintViolation',
]);

const failures = [];
const csmsCalls = [];

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function errorInfo(err) {
  if (err == null) return null;
  return {
    name: err.name,
    code: err.rpcErrorCode ?? null,
    message: String(err.message ?? err),
    details: err.details ?? null,
  };
}

function fail(step, error, extra = {}) {
  failures.push(step);
  emit({ step, ok: false, error, ...extra });
}

if (!endpoint || !identity || !password || !idTokenValue) {
  process.stderr.write('usage: node charger201.mjs URL IDENTITY PASSWORD ID_TOKEN\n');
  process.exit(64);
}

const deadline = setTimeout(() => {
  emit({ step: 'timeout', ok: false, error: `overall timeout of ${overallTimeoutMs} ms` });
  process.exit(2);
}, overallTimeoutMs);

const client = new RPCClient({
  endpoint,
  identity,
  password,
  protocols: ['ocpp2.0.1'],
  strictMode: true,
  reconnect: false,
  callTimeoutMs,
  pingIntervalMs: 0,
});

// Anything the CSMS sends that ocpp-rpc judges invalid is a failure.
client.on('strictValidationFailure', (event) => {
  fail('strict-validation', errorInfo(event.error), {
    direction: event.outbound ? 'outbound' : 'inbound',
    kind: event.isCall ? 'request' : 'answer',
    action: event.method,
    request: event.params,
    answer: event.result,
  });
});
client.on('badMessage', (event) => {
  fail('bad-message', errorInfo(event.error), { message: event.buffer?.toString('utf8') });
});

// Raw inbound CALLRESULT/CALLERROR frames by message id, to check CALLERRORs as sent.
const lastOutboundCallId = { value: null };
const inboundFrames = new Map();
client.on('call', ({ outbound, payload }) => {
  if (outbound) lastOutboundCallId.value = payload[1];
});
client.on('response', ({ outbound, payload }) => {
  if (!outbound) inboundFrames.set(payload[1], payload);
});

function isoNow(offsetSeconds = 0) {
  return new Date(Date.now() + offsetSeconds * 1000).toISOString();
}

const idToken = { idToken: idTokenValue, type: 'ISO14443' };
const evse = { id: 1, connectorId: 1 };

// -- the station's side of CSMS-initiated calls --------------------------------------

// Device model: "Component.Variable" → { value, mutability }.
const variables = new Map([
  ['OCPPCommCtrlr.HeartbeatInterval', { value: '300', mutability: 'ReadWrite' }],
  ['AuthCtrlr.AuthorizeRemoteStart', { value: 'false', mutability: 'ReadWrite' }],
  ['SampledDataCtrlr.TxUpdatedInterval', { value: '60', mutability: 'ReadWrite' }],
  ['SecurityCtrlr.SecurityProfile', { value: '1', mutability: 'ReadOnly' }],
]);
const state = { transactionId: null, seqNo: 0 };
const followUps = [];

function variableResult(component, variable, extra) {
  return { component, variable, ...extra };
}

function later(name, action, request) {
  // A station sends a triggered or follow-up message after it has answered.
  followUps.push(
    new Promise((resolve) => setTimeout(resolve, 50)).then(() => step(name, action, request)),
  );
}

const triggered = {
  Heartbeat: () => ['Heartbeat', {}],
  StatusNotification: () => [
    'StatusNotification',
    { timestamp: isoNow(), connectorStatus: 'Available', evseId: 1, connectorId: 1 },
  ],
  BootNotification: () => ['BootNotification', bootRequest('Triggered')],
};

const handlers = {
  GetVariables: ({ getVariableData }) => ({
    getVariableResult: getVariableData.map(({ component, variable, attributeType }) => {
      const entry = variables.get(`${component.name}.${variable.name}`);
      if (!entry) {
        const known = [...variables.keys()].some((k) => k.startsWith(`${component.name}.`));
        return variableResult(component, variable, {
          attributeStatus: known ? 'UnknownVariable' : 'UnknownComponent',
        });
      }
      if (attributeType && attributeType !== 'Actual') {
        return variableResult(component, variable, { attributeStatus: 'NotSupportedAttributeType' });
      }
      return variableResult(component, variable, {
        attributeStatus: 'Accepted',
        attributeType: 'Actual',
        attributeValue: entry.value,
      });
    }),
  }),
  SetVariables: ({ setVariableData }) => ({
    setVariableResult: setVariableData.map(({ component, variable, attributeValue }) => {
      const entry = variables.get(`${component.name}.${variable.name}`);
      if (!entry) return variableResult(component, variable, { attributeStatus: 'UnknownVariable' });
      if (entry.mutability === 'ReadOnly') {
        return variableResult(component, variable, { attributeStatus: 'Rejected' });
      }
      entry.value = attributeValue;
      return variableResult(component, variable, { attributeStatus: 'Accepted' });
    }),
  }),
  GetBaseReport: ({ requestId, reportBase }) => {
    later(`report ${requestId}`, 'NotifyReport', {
      requestId,
      generatedAt: isoNow(),
      seqNo: 0,
      tbc: false,
      reportData: [...variables].map(([name, entry]) => {
        const [component, variable] = name.split('.');
        return {
          component: { name: component },
          variable: { name: variable },
          variableAttribute: [{ type: 'Actual', value: entry.value, mutability: entry.mutability }],
        };
      }),
    });
    return { status: reportBase === 'SummaryInventory' ? 'NotSupported' : 'Accepted' };
  },
  ChangeAvailability: () => ({ status: 'Accepted' }),
  UnlockConnector: () => ({ status: 'Unlocked' }),
  ClearCache: () => ({ status: 'Accepted' }),
  TriggerMessage: ({ requestedMessage }) => {
    const make = triggered[requestedMessage];
    if (!make) return { status: 'NotImplemented' };
    later(`triggered ${requestedMessage}`, ...make());
    return { status: 'Accepted' };
  },
  RequestStartTransaction: () => ({ status: 'Accepted' }),
  RequestStopTransaction: ({ transactionId }) => ({
    status: transactionId === state.transactionId ? 'Accepted' : 'Rejected',
  }),
  GetTransactionStatus: ({ transactionId }) => ({
    ongoingIndicator: transactionId === state.transactionId,
    messagesInQueue: false,
  }),
  Reset: ({ type }) => ({ status: type === 'OnIdle' ? 'Accepted' : 'Scheduled' }),
};

for (const [action, handler] of Object.entries(handlers)) {
  client.handle(action, ({ params }) => {
    const answer = handler(params);
    csmsCalls.push({ action, request: params, answer });
    emit({ step: 'csms-call', ok: true, action, request: params, answer });
    return answer;
  });
}

// -- the station's own session -------------------------------------------------------

function bootRequest(reason = 'PowerUp') {
  return {
    reason,
    chargingStation: {
      vendorName: 'ocpp-rpc',
      model: 'Interop 2.0.1',
      serialNumber: 'RPC-0201',
      firmwareVersion: '2.2.1',
    },
  };
}

/** One CALL; `check` throws when the (schema-valid) answer is not what a station needs. */
async function step(name, action, request, check = () => {}) {
  let answer;
  try {
    answer = await client.call(action, request);
  } catch (err) {
    fail(name, errorInfo(err), { action, request });
    return undefined;
  }
  try {
    check(answer);
  } catch (err) {
    fail(name, String(err.message ?? err), { action, request, answer });
    return undefined;
  }
  emit({ step: name, ok: true, action, request, answer });
  return answer;
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** Send a request that breaks the 2.0.1 schema; the CSMS must answer a 2.0.1 CALLERROR. */
async function invalidStep(name, action, request, expectedCode) {
  client.reconfigure({ strictMode: false });
  try {
    const answer = await client.call(action, request);
    fail(name, 'the CSMS accepted a request that breaks the 2.0.1 schema', {
      action,
      request,
      answer,
    });
  } catch (err) {
    const frame = inboundFrames.get(lastOutboundCallId.value);
    const problems = [];
    if (!Array.isArray(frame) || frame[0] !== 4) problems.push('no CALLERROR frame received');
    else {
      if (frame.length !== 5) problems.push(`CALLERROR has ${frame.length} elements, not 5`);
      if (!V201_ERROR_CODES.has(frame[2])) problems.push(`error code ${frame[2]} is not a 2.0.1 code`);
      if (frame[2] !== expectedCode) problems.push(`error code ${frame[2]}, expected ${expectedCode}`);
      if (typeof frame[3] !== 'string') problems.push('errorDescription is not a string');
      if (typeof frame[4] !== 'object' || frame[4] === null || Array.isArray(frame[4]))
        problems.push('errorDetails is not an object');
    }
    if (err.rpcErrorCode !== expectedCode) problems.push(`ocpp-rpc parsed ${err.rpcErrorCode}`);
    if (problems.length) fail(name, problems.join('; '), { action, request, frame: frame ?? null });
    else emit({ step: name, ok: true, action, request, frame, parsed: errorInfo(err) });
  } finally {
    client.reconfigure({ strictMode: true });
  }
}

function meterValue(wh, context, offsetSeconds, extra = []) {
  return [
    {
      timestamp: isoNow(offsetSeconds),
      sampledValue: [
        {
          value: wh,
          context,
          measurand: 'Energy.Active.Import.Register',
          location: 'Outlet',
          unitOfMeasure: { unit: 'Wh' },
        },
        ...extra,
      ],
    },
  ];
}

function transactionEvent(eventType, triggerReason, offsetSeconds, extra = {}) {
  const { transactionInfo = {}, ...rest } = extra;
  const request = {
    eventType,
    timestamp: isoNow(offsetSeconds),
    triggerReason,
    seqNo: state.seqNo,
    transactionInfo: { transactionId: state.transactionId, ...transactionInfo },
    ...rest,
  };
  state.seqNo += 1;
  return request;
}

async function session() {
  const boot = await step('boot', 'BootNotification', bootRequest(), (a) =>
    expect(a.status === 'Accepted', `boot status ${a.status}`),
  );
  if (!boot) return;
  await step('heartbeat', 'Heartbeat', {});
  await step('status available', 'StatusNotification', {
    timestamp: isoNow(),
    connectorStatus: 'Available',
    evseId: 1,
    connectorId: 1,
  });
  await step('authorize', 'Authorize', { idToken }, (a) =>
    expect(a.idTokenInfo.status === 'Accepted', `idToken ${a.idTokenInfo.status}`),
  );
  state.transactionId = randomUUID();
  const started = await step(
    'transaction started',
    'TransactionEvent',
    transactionEvent('Started', 'Authorized', -300, {
      transactionInfo: { chargingState: 'EVConnected' },
      idToken,
      evse,
      meterValue: meterValue(1000, 'Transaction.Begin', -300),
    }),
    (a) => expect(a.idTokenInfo?.status === 'Accepted', `idToken ${a.idTokenInfo?.status}`),
  );
  if (!started) return;
  await step('status occupied', 'StatusNotification', {
    timestamp: isoNow(-299),
    connectorStatus: 'Occupied',
    evseId: 1,
    connectorId: 1,
  });
  await step(
    'transaction updated',
    'TransactionEvent',
    transactionEvent('Updated', 'MeterValuePeriodic', -150, {
      transactionInfo: { chargingState: 'Charging' },
      meterValue: meterValue(2500, 'Sample.Periodic', -150, [
        {
          value: 7400,
          context: 'Sample.Periodic',
          measurand: 'Power.Active.Import',
          unitOfMeasure: { unit: 'W' },
        },
      ]),
    }),
  );
}

async function endSession() {
  await step(
    'transaction ended',
    'TransactionEvent',
    transactionEvent('Ended', 'StopAuthorized', 0, {
      transactionInfo: { chargingState: 'EVConnected', stoppedReason: 'Local' },
      idToken,
      meterValue: meterValue(4500, 'Transaction.End', 0),
    }),
  );
  state.transactionId = null;
  await step('status available again', 'StatusNotification', {
    timestamp: isoNow(),
    connectorStatus: 'Available',
    evseId: 1,
    connectorId: 1,
  });
  await invalidStep(
    'invalid: Authorize without idToken',
    'Authorize',
    {},
    'OccurrenceConstraintViolation',
  );
  await invalidStep(
    'invalid: StatusNotification with a string evseId',
    'StatusNotification',
    { timestamp: isoNow(), connectorStatus: 'Available', evseId: 'one', connectorId: 1 },
    'TypeConstraintViolation',
  );
}

/** Lines on standard input: "end" ends the transaction, "close" (or EOF) disconnects. */
function commands() {
  const waiting = { end: [], close: [] };
  let buffered = '';
  const fire = (name) => {
    for (const resolve of waiting[name].splice(0)) resolve();
    waiting[name].fired = true;
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines) if (line.trim() in waiting) fire(line.trim());
  });
  for (const event of ['end', 'error']) process.stdin.on(event, () => fire('close'));
  return (name) =>
    waiting[name].fired ? Promise.resolve() : new Promise((resolve) => waiting[name].push(resolve));
}

async function main() {
  const wait = commands();
  try {
    await client.connect();
  } catch (err) {
    fail('connect', errorInfo(err), { endpoint, identity });
    return;
  }
  emit({ step: 'connect', ok: true, protocol: client.protocol });
  await session();
  emit({ step: 'ready', ok: failures.length === 0, transactionId: state.transactionId });
  await Promise.race([wait('end'), wait('close')]);
  await endSession();
  emit({ step: 'ended', ok: failures.length === 0 });
  await wait('close');
  await Promise.allSettled(followUps);
  await client.close({ code: 1000, reason: 'interop test done', awaitPending: true });
}

try {
  await main();
} catch (err) {
  fail('crash', errorInfo(err));
}
clearTimeout(deadline);
emit({ step: 'done', ok: failures.length === 0, failures, csmsCalls });
process.stdin.destroy();
process.exitCode = failures.length === 0 ? 0 : 1;
