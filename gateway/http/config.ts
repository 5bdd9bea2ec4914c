/**
 * The `http:` section of the gateway config: where the status endpoint and the
 * station dashboard listen, who may log in, and the screens' default language
 * (issue 6 point 1). Passwords are stored only as scrypt hashes, the same
 * `scrypt$N$salt$hash` format as the MQTT device passwords (gateway/mqtt/password.ts;
 * `fillgate mqtt hash-password` prints one from a password on stdin).
 */
import { z } from 'zod';
import { PASSWORD_HASH_PATTERN } from '../mqtt/password.ts';

/** operator: watches posts, reads records and the registry. supervisor: also resets faults and the leak lock, imports. integrator: status, imports. */
export const dashboardRoles = ['operator', 'supervisor', 'integrator'] as const;
export type DashboardRole = (typeof dashboardRoles)[number];

export const httpUserSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits, . _ @ - only (max 64)').describe('Login name'),
  role: z.enum(dashboardRoles).describe('operator: watch posts, read records and registry; supervisor: also reset faults and the leak lock, import; integrator: status, import'),
  passwordHash: z
    .string()
    .regex(PASSWORD_HASH_PATTERN, 'a hash from `fillgate mqtt hash-password` (scrypt$N$salt$hash), never the password')
    .describe('scrypt$N$salt$hash from `fillgate mqtt hash-password` (password on stdin)'),
});
export type HttpUser = z.infer<typeof httpUserSchema>;

export const httpSchema = z
  .object({
    host: z.string().default('127.0.0.1').describe("Listen address: loopback by default; 0.0.0.0 to serve the posts' touch panels on the station LAN"),
    port: z.number().int().min(0).max(65535).default(8080).describe('TCP port; 0 = ephemeral (tests)'),
    lang: z.enum(['zh', 'en']).default('zh').describe('Language of a screen that has not chosen one yet; each screen keeps its own choice'),
    users: z.array(httpUserSchema).default([]).describe('Who may log in to the dashboard, with a role each'),
    // Absent: a random key per process, so everyone logs in again after a gateway restart.
    sessionSecret: z.string().min(32, 'at least 32 characters').optional().describe('Key that signs session cookies (at least 32 characters); absent = random per process'),
    sessionHours: z.number().min(0.01).max(24 * 14).default(12).describe('A login lasts this long (a shift plus some)'),
    liveHz: z.number().min(0.5).max(20).default(4).describe("Live weight updates per post per second on the dashboard's event stream"),
  })
  .superRefine((h, ctx) => {
    const seen = new Set<string>();
    h.users.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `duplicate user ${u.name}` });
      seen.add(u.name);
    });
  });
export type HttpConfig = z.infer<typeof httpSchema>;

export const defaultHttpConfig = (): HttpConfig => httpSchema.parse({});
