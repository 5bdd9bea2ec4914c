/**
 * What the tests need from Debian, checked before any test runs (issue 12
 * point 2: the README's test command passes on a fresh machine that has only
 * Node and npm). Run as root, the missing packages are installed with apt-get;
 * otherwise the list is printed with the command to run, and the run stops at
 * once with exit 2 (set FILLGATE_TEST_ALLOW_MISSING=1 to run anyway: the
 * tests that need a missing tool are then skipped and listed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { INITDB } from './fixtures/postgres.ts';

/** Debian package → a file it installs that the tests use. */
export const TEST_PACKAGES: Record<string, string> = {
  socat: 'socat', // pty pairs: serial lines without hardware
  mosquitto: 'mosquitto', // the upstream broker, with TLS and an ACL
  'mosquitto-clients': 'mosquitto_pub', // interop: devices nobody here wrote
  mbpoll: 'mbpoll', // an independent Modbus master
  chromium: '/usr/bin/chromium', // the dashboard's browser tests (playwright-core drives it)
  'fonts-wqy-microhei': '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc', // the panel's Chinese text
  openssl: 'openssl', // a self-signed certificate for the TLS listener test
  // The receiver on a real PostgreSQL (test/fixtures/postgres.ts): initdb in Debian's
  // /usr/lib/postgresql/<major>/bin, or on PATH (findPgBin).
  postgresql: INITDB,
};

function present(probe: string): boolean {
  if (probe.startsWith('/')) return existsSync(probe);
  return spawnSync('sh', ['-c', `command -v ${probe}`], { stdio: 'ignore' }).status === 0;
}

export function missingPackages(): string[] {
  return Object.entries(TEST_PACKAGES)
    .filter(([, probe]) => !present(probe))
    .map(([pkg]) => pkg);
}

/** Returns normally when everything is there (possibly after installing it); exits the process otherwise. */
export function preflight(): void {
  let gone = missingPackages();
  if (gone.length === 0) return;
  const cmd = `apt-get install -y ${gone.join(' ')}`;
  if (process.getuid?.() === 0 && present('apt-get')) {
    console.log(`installing what the tests need: ${gone.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', ...gone], { stdio: ['ignore', 'ignore', 'inherit'], env }) : update;
    gone = missingPackages();
    if (install.status === 0 && gone.length === 0) return;
    console.error(`could not install ${gone.join(' ')} (apt-get exit ${install.status})`);
  } else {
    console.error(`the tests need Debian packages that are not installed: ${gone.join(' ')}\nrun: sudo ${cmd}`);
  }
  if (process.env.FILLGATE_TEST_ALLOW_MISSING === '1') {
    console.error('FILLGATE_TEST_ALLOW_MISSING=1: running anyway; the tests that need them are skipped');
    return;
  }
  console.log('0 passed, 1 failed, 0 skipped');
  process.exit(2);
}
