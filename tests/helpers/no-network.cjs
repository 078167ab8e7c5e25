// Preloaded with `node --require` (through NODE_OPTIONS, so child processes get it too): any
// connection attempt outside the loopback (TCP, TLS, UDP, or a DNS lookup of another name) is
// written to $ATTUNE_NO_NETWORK_LOG and fails. Independent of engine code on purpose.
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const dns = require('node:dns');
const dgram = require('node:dgram');

const log = process.env.ATTUNE_NO_NETWORK_LOG;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '::ffff:127.0.0.1', '0.0.0.0', '']);
const isLoopback = (host) => host === undefined || host === null || LOOPBACK.has(String(host)) || /^127\./.test(String(host));

function refuse(what) {
  const line = `${process.pid} ${process.argv.slice(1).join(' ')} :: ${what}\n`;
  if (log) fs.appendFileSync(log, line);
  const err = new Error(`network use outside the loopback: ${what}`);
  err.code = 'ENETUNREACH';
  throw err;
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let o = args[0];
  if (Array.isArray(o)) o = o[0];
  if (o && typeof o === 'object') {
    if (o.path === undefined && !isLoopback(o.host)) refuse(`connect ${o.host}:${o.port}`);
  } else if (typeof o === 'number' || (typeof o === 'string' && /^\d+$/.test(o))) {
    if (typeof args[1] === 'string' && !isLoopback(args[1])) refuse(`connect ${args[1]}:${o}`);
  }
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  if (!isLoopback(host)) refuse(`dns ${host}`);
  return lookup.call(this, host, ...rest);
};
const plookup = dns.promises.lookup;
dns.promises.lookup = function (host, ...rest) {
  if (!isLoopback(host)) refuse(`dns ${host}`);
  return plookup.call(this, host, ...rest);
};
for (const m of ['resolve', 'resolve4', 'resolve6', 'resolveAny']) {
  const orig = dns[m];
  dns[m] = function (host, ...rest) {
    if (!isLoopback(host)) refuse(`dns ${m} ${host}`);
    return orig.call(this, host, ...rest);
  };
}
const send = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function (...args) {
  const host = args.find((a, i) => i > 0 && typeof a === 'string');
  if (!isLoopback(host)) refuse(`udp ${host}`);
  return send.apply(this, args);
};
