import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { isFillgateError } from '../../protocols/errors.ts';
import { createLink } from '../../protocols/link/create.ts';
import { TcpLink } from '../../protocols/link/tcp.ts';
import { waitFor } from './link-helpers.ts';

/** A device server stand-in: remembers what it got and its live sockets. */
function echoServer() {
  const sockets = new Set<net.Socket>();
  let received = '';
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (b) => (received += b.toString()));
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  return {
    server,
    sockets,
    received: () => received,
    listen: (port = 0) =>
      new Promise<number>((resolve) =>
        server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('data both ways; the server dropping the socket is survived; writes while down reject', async () => {
  const srv = echoServer();
  const port = await srv.listen();
  const link = createLink(`tcp://127.0.0.1:${port}`, { backoff: { initialMs: 100, maxMs: 400 } });
  assert.ok(link instanceof TcpLink);
  let got = '';
  link.data.on((b) => (got += b.toString()));
  await link.open();
  await waitFor(() => srv.sockets.size === 1, 'server to accept');
  const [first] = srv.sockets;
  first.write('hello gateway');
  await link.write(Buffer.from('hello device'));
  await waitFor(() => got === 'hello gateway' && srv.received() === 'hello device', 'data both ways');

  // The device server resets the connection (e.g. it rebooted).
  first.destroy();
  await waitFor(() => link.state === 'reconnecting', 'link to notice the drop');
  const err = await link.write(Buffer.from('x')).catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'LINK_CLOSED'), `expected LINK_CLOSED, got ${String(err)}`);

  await waitFor(() => link.state === 'open' && srv.sockets.size === 1, 'link to reconnect by itself');
  const [second] = srv.sockets;
  assert.is.not(second, first);
  got = '';
  second.write('again');
  await link.write(Buffer.from(' and back'));
  await waitFor(() => got === 'again' && srv.received() === 'hello device and back', 'data after reconnect');

  await link.close();
  assert.is(link.state, 'closed');
  const afterClose = await link.write(Buffer.from('x')).catch((e: unknown) => e);
  assert.ok(isFillgateError(afterClose, 'LINK_CLOSED'));
  await srv.close();
});

test('a server that is down at start and comes back later on the same port is picked up', async () => {
  const probe = echoServer();
  const port = await probe.listen();
  await probe.close();
  const link = createLink(`tcp://127.0.0.1:${port}`, { backoff: { initialMs: 50, maxMs: 200 } });
  const states: string[] = [];
  link.stateChange.on((e) => states.push(e.state));
  const err = await link.open().catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'LINK_OPEN_FAILED'), `expected LINK_OPEN_FAILED, got ${String(err)}`);
  assert.is(link.state, 'reconnecting');
  const srv = echoServer();
  await srv.listen(port);
  await waitFor(() => link.state === 'open', 'link to open when the server appears');
  assert.equal(states, ['opening', 'reconnecting', 'open']);
  await link.close();
  await srv.close();
});

test('write never throws synchronously, even on a link never opened', async () => {
  const link = createLink('tcp://127.0.0.1:1');
  let p: Promise<void> | undefined;
  assert.not.throws(() => {
    p = link.write(Buffer.from('x'));
  });
  const err = await p!.catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'LINK_CLOSED'));
});

test('close stops the reconnect loop (a server that drops every connection sees no more attempts)', async () => {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.on('error', () => undefined);
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const link = createLink(`tcp://127.0.0.1:${port}`, { backoff: { initialMs: 20, maxMs: 20 } });
  await link.open().catch(() => undefined);
  await waitFor(() => accepted >= 3, 'several reconnect attempts');
  await link.close();
  const seen = accepted;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(accepted <= seen + 1, `attempts went on after close: ${seen} -> ${accepted}`);
  assert.is(link.state, 'closed');
  await new Promise<void>((r) => server.close(() => r()));
});

test.run();
