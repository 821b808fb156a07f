#!/usr/bin/env node
// A foreign OCPP 1.6J charge point built on the npm package `ocpp-rpc` in strict mode:
// every request it sends and every answer it receives is validated against the official
// OCPP 1.6 JSON schemas, so a malformed answer from the CSMS fails the run.
//
// Usage:
//   node charger16.mjs URL IDENTITY PASSWORD ID_TAG
//   (or the environment variables OCPP_URL, OCPP_IDENTITY, OCPP_PASSWORD, OCPP_ID_TAG)
//
// URL is the endpoint without the identity, e.g. ws://127.0.0.1:9000/ocpp.
//
// Output: one JSON object per line on stdout, one per step:
//   {"step": "...", "ok": true|false, "request": ..., "answer": ..., "error": ...}
// and one line per call the CSMS makes ({"step": "csms-call", ...}). After the session
// it prints {"step": "ready"} and stays connected, answering CSMS calls, until standard
// input is closed (or a line "close" arrives), then prints {"step": "done", ...}.
// Exit status: 0 when every step passed, 1 on any failure (including a strict-mode
// validation failure of the CSMS's answers or requests), 2 on the overall timeout.
// Environment: OCPP_TIMEOUT_MS (overall limit, default 20000), OCPP_CALL_TIMEOUT_MS
// (per call, default 5000).

import ocppRpc from 'ocpp-rpc';

const { RPCClient } = ocppRpc;

const [argUrl, argIdentity, argPassword, argIdTag] = process.argv.slice(2);
const endpoint = argUrl ?? process.env.OCPP_URL;
const identity = argIdentity ?? process.env.OCPP_IDENTITY;
const password = argPassword ?? process.env.OCPP_PASSWORD;
const idTag = argIdTag ?? process.env.OCPP_ID_TAG;
const overallTimeoutMs = Number(process.env.OCPP_TIMEOUT_MS ?? 20000);
const callTimeoutMs = Number(process.env.OCPP_CALL_TIMEOUT_MS ?? 5000);

// OCPP-J 1.6 §4.2.3: the only error codes a 1.6 CALLERROR may carry (spelled as in 1.6).
const V16_ERROR_CODES = new Set([
  'NotImplemented',
  'NotSupported',
  'InternalError',
  'ProtocolError',
  'SecurityError',
  'FormationViolation',
  'PropertyConstraintViolation',
  'OccurenceConstraintViolation',
  'TypeConstraintViolation',
  'GenericError',
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

if (!endpoint || !identity || !password || !idTag) {
  process.stderr.write('usage: node charger16.mjs URL IDENTITY PASSWORD ID_TAG\n');
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
  protocols: ['ocpp1.6'],
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

// -- the charge point's side of CSMS-initiated calls ---------------------------------

const configuration = new Map([
  ['HeartbeatInterval', { value: '300', readonly: false }],
  ['MeterValueSampleInterval', { value: '60', readonly: false }],
  ['ConnectionTimeOut', { value: '60', readonly: false }],
  ['AuthorizeRemoteTxRequests', { value: 'true', readonly: false }],
  ['NumberOfConnectors', { value: '1', readonly: true }],
  ['SupportedFeatureProfiles', { value: 'Core,RemoteTrigger', readonly: true }],
]);
const state = { transactionId: null };
const followUps = [];

const triggered = {
  BootNotification: () => ['BootNotification', bootRequest()],
  Heartbeat: () => ['Heartbeat', {}],
  StatusNotification: (connectorId) => [
    'StatusNotification',
    { connectorId: connectorId ?? 0, errorCode: 'NoError', status: 'Available', timestamp: isoNow() },
  ],
  DiagnosticsStatusNotification: () => ['DiagnosticsStatusNotification', { status: 'Idle' }],
  FirmwareStatusNotification: () => ['FirmwareStatusNotification', { status: 'Idle' }],
};

const handlers = {
  Reset: () => ({ status: 'Accepted' }),
  ClearCache: () => ({ status: 'Accepted' }),
  GetConfiguration: ({ key }) => {
    const wanted = key ?? [...configuration.keys()];
    const configurationKey = [];
    const unknownKey = [];
    for (const k of wanted) {
      const entry = configuration.get(k);
      if (entry) configurationKey.push({ key: k, readonly: entry.readonly, value: entry.value });
      else unknownKey.push(k);
    }
    return unknownKey.length ? { configurationKey, unknownKey } : { configurationKey };
  },
  ChangeConfiguration: ({ key, value }) => {
    const entry = configuration.get(key);
    if (!entry) return { status: 'NotSupported' };
    if (entry.readonly) return { status: 'Rejected' };
    entry.value = value;
    return { status: 'Accepted' };
  },
  TriggerMessage: ({ requestedMessage, connectorId }) => {
    const make = triggered[requestedMessage];
    if (!make) return { status: 'NotImplemented' };
    // A charge point sends the triggered message after it has answered.
    followUps.push(
      new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        step(`triggered ${requestedMessage}`, ...make(connectorId)),
      ),
    );
    return { status: 'Accepted' };
  },
  UnlockConnector: () => ({ status: 'Unlocked' }),
  ChangeAvailability: () => ({ status: 'Accepted' }),
  RemoteStartTransaction: () => ({ status: 'Accepted' }),
  RemoteStopTransaction: ({ transactionId }) => ({
    status: transactionId === state.transactionId ? 'Accepted' : 'Rejected',
  }),
};

for (const [action, handler] of Object.entries(handlers)) {
  client.handle(action, ({ params }) => {
    const answer = handler(params);
    csmsCalls.push({ action, request: params, answer });
    emit({ step: 'csms-call', ok: true, action, request: params, answer });
    return answer;
  });
}

// -- the charge point's own session --------------------------------------------------

function bootRequest() {
  return {
    chargePointVendor: 'ocpp-rpc',
    chargePointModel: 'Interop 1.6',
    chargePointSerialNumber: 'RPC-0001',
    firmwareVersion: '2.2.1',
  };
}

/** One CALL; `check` throws when the (schema-valid) answer is not what a 1.6 charger needs. */
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

/** Send a request that breaks the 1.6 schema; the CSMS must answer a well-formed 1.6 CALLERROR. */
async function invalidStep(name, action, request, expectedCode) {
  client.reconfigure({ strictMode: false });
  try {
    const answer = await client.call(action, request);
    fail(name, 'the CSMS accepted a request that breaks the 1.6 schema', { action, request, answer });
  } catch (err) {
    const frame = inboundFrames.get(lastOutboundCallId.value);
    const problems = [];
    if (!Array.isArray(frame) || frame[0] !== 4) problems.push('no CALLERROR frame received');
    else {
      if (frame.length !== 5) problems.push(`CALLERROR has ${frame.length} elements, not 5`);
      if (!V16_ERROR_CODES.has(frame[2])) problems.push(`error code ${frame[2]} is not a 1.6 code`);
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

async function session() {
  const boot = await step('boot', 'BootNotification', bootRequest(), (a) =>
    expect(a.status === 'Accepted', `boot status ${a.status}`),
  );
  if (!boot) return;
  await step('heartbeat', 'Heartbeat', {});
  for (const connectorId of [0, 1]) {
    await step(`status connector ${connectorId}`, 'StatusNotification', {
      connectorId,
      errorCode: 'NoError',
      status: 'Available',
      timestamp: isoNow(),
    });
  }
  await step('authorize', 'Authorize', { idTag }, (a) =>
    expect(a.idTagInfo.status === 'Accepted', `idTag ${a.idTagInfo.status}`),
  );
  const start = await step(
    'start transaction',
    'StartTransaction',
    { connectorId: 1, idTag, meterStart: 1000, timestamp: isoNow(-300) },
    (a) => expect(a.idTagInfo.status === 'Accepted', `idTag ${a.idTagInfo.status}`),
  );
  if (!start) return;
  state.transactionId = start.transactionId;
  await step('status charging', 'StatusNotification', {
    connectorId: 1,
    errorCode: 'NoError',
    status: 'Charging',
    timestamp: isoNow(-299),
  });
  await step('meter values', 'MeterValues', {
    connectorId: 1,
    transactionId: start.transactionId,
    meterValue: [
      {
        timestamp: isoNow(-150),
        sampledValue: [
          {
            value: '2500',
            context: 'Sample.Periodic',
            measurand: 'Energy.Active.Import.Register',
            location: 'Outlet',
            unit: 'Wh',
          },
          { value: '7400', context: 'Sample.Periodic', measurand: 'Power.Active.Import', unit: 'W' },
        ],
      },
    ],
  });
  await step('stop transaction', 'StopTransaction', {
    transactionId: start.transactionId,
    idTag,
    meterStop: 4500,
    timestamp: isoNow(),
    reason: 'Local',
    transactionData: [
      {
        timestamp: isoNow(),
        sampledValue: [
          {
            value: '4500',
            context: 'Transaction.End',
            measurand: 'Energy.Active.Import.Register',
            unit: 'Wh',
          },
        ],
      },
    ],
  });
  state.transactionId = null;
  await step('status available', 'StatusNotification', {
    connectorId: 1,
    errorCode: 'NoError',
    status: 'Available',
    timestamp: isoNow(),
  });
  await step(
    'data transfer unknown vendor',
    'DataTransfer',
    { vendorId: 'org.example.unknown', messageId: 'Ping', data: 'hello' },
    (a) => expect(a.status === 'UnknownVendorId', `DataTransfer status ${a.status}`),
  );
  await step('diagnostics status', 'DiagnosticsStatusNotification', { status: 'Idle' });
  await step('firmware status', 'FirmwareStatusNotification', { status: 'Idle' });
  await invalidStep(
    'invalid: Authorize without idTag',
    'Authorize',
    {},
    'OccurenceConstraintViolation',
  );
  await invalidStep(
    'invalid: StatusNotification with a string connectorId',
    'StatusNotification',
    { connectorId: 'one', errorCode: 'NoError', status: 'Available' },
    'TypeConstraintViolation',
  );
}

/** Resolves when standard input ends or says "close". */
function closeRequested() {
  return new Promise((resolve) => {
    let buffered = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      buffered += chunk;
      if (buffered.split('\n').some((line) => line.trim() === 'close')) resolve();
    });
    process.stdin.on('end', resolve);
    process.stdin.on('error', resolve);
  });
}

async function main() {
  const stop = closeRequested();
  try {
    await client.connect();
  } catch (err) {
    fail('connect', errorInfo(err), { endpoint, identity });
    return;
  }
  emit({ step: 'connect', ok: true, protocol: client.protocol });
  await session();
  emit({ step: 'ready', ok: failures.length === 0 });
  await stop;
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
