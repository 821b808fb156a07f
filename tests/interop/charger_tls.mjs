#!/usr/bin/env node
// A foreign charger over wss built on the npm package `ocpp-rpc` in strict mode: OCPP
// security profile 2 (TLS + HTTP Basic auth) or 3 (TLS + a client certificate), in 1.6J or
// 2.0.1. It trusts the CA in OCPP_CA for the CSMS's server certificate (the `ws` package's
// TLS options, through ocpp-rpc's wsOpts), boots, sends a Heartbeat and a
// StatusNotification, and exits.
//
// Environment:
//   OCPP_URL       the wss endpoint without the identity, e.g. wss://127.0.0.1:9443/ocpp
//   OCPP_IDENTITY  the charger identity
//   OCPP_PROTOCOL  ocpp1.6 (default) or ocpp2.0.1
//   OCPP_CA        PEM file of the CA that signed the server certificate
//   OCPP_PASSWORD  Basic auth password (profile 2; absent for profile 3)
//   OCPP_CERT, OCPP_KEY  client certificate and key, PEM (profile 3)
//   OCPP_TIMEOUT_MS      overall limit (default 15000)
//
// Output: one JSON object per line on stdout, {"step": "...", "ok": true|false, ...};
// "connect" carries the negotiated TLS version and subprotocol. Exit status: 0 when every
// step passed, 1 on a failure (a refused connection included), 2 on the overall timeout.

import { readFileSync } from 'node:fs';
import ocppRpc from 'ocpp-rpc';

const { RPCClient } = ocppRpc;

const env = process.env;
const protocol = env.OCPP_PROTOCOL ?? 'ocpp1.6';
const overallTimeoutMs = Number(env.OCPP_TIMEOUT_MS ?? 15000);

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

if (!env.OCPP_URL || !env.OCPP_IDENTITY || !env.OCPP_CA) {
  process.stderr.write('set OCPP_URL, OCPP_IDENTITY and OCPP_CA (see the top of this file)\n');
  process.exit(64);
}

const deadline = setTimeout(() => {
  emit({ step: 'timeout', ok: false, error: `overall timeout of ${overallTimeoutMs} ms` });
  process.exit(2);
}, overallTimeoutMs);

const wsOpts = { ca: readFileSync(env.OCPP_CA) };
if (env.OCPP_CERT) {
  wsOpts.cert = readFileSync(env.OCPP_CERT);
  wsOpts.key = readFileSync(env.OCPP_KEY);
}

const client = new RPCClient({
  endpoint: env.OCPP_URL,
  identity: env.OCPP_IDENTITY,
  password: env.OCPP_PASSWORD || undefined,
  protocols: [protocol],
  strictMode: true,
  reconnect: false,
  callTimeoutMs: 5000,
  pingIntervalMs: 0,
  wsOpts,
});

let failed = false;
client.on('strictValidationFailure', (event) => {
  failed = true;
  emit({ step: 'strict-validation', ok: false, action: event.method, error: String(event.error) });
});

const now = () => new Date().toISOString();
const messages =
  protocol === 'ocpp2.0.1'
    ? [
        ['boot', 'BootNotification', {
          reason: 'PowerUp',
          chargingStation: { vendorName: 'ocpp-rpc', model: 'Interop TLS', firmwareVersion: '2.2.1' },
        }],
        ['heartbeat', 'Heartbeat', {}],
        ['status', 'StatusNotification', {
          timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1,
        }],
      ]
    : [
        ['boot', 'BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'Interop TLS' }],
        ['heartbeat', 'Heartbeat', {}],
        ['status', 'StatusNotification', {
          connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now(),
        }],
      ];

async function main() {
  try {
    const { handshake } = await client.connect();
    const socket = handshake?.request?.socket ?? client._ws?._socket;
    emit({
      step: 'connect',
      ok: true,
      protocol: client.protocol,
      tls: socket?.getProtocol?.() ?? null,
    });
  } catch (err) {
    emit({ step: 'connect', ok: false, error: String(err?.message ?? err), code: err?.code ?? null });
    clearTimeout(deadline);
    process.exit(1);
  }
  for (const [step, action, request] of messages) {
    try {
      const answer = await client.call(action, request);
      emit({ step, ok: true, answer });
    } catch (err) {
      failed = true;
      emit({ step, ok: false, error: String(err?.message ?? err) });
    }
  }
  await client.close({ code: 1000 });
  clearTimeout(deadline);
  emit({ step: 'done', ok: !failed });
  process.exit(failed ? 1 : 0);
}

main();
