import { hashPassword } from '../mqtt/password.ts';

/** `fillgate mqtt hash-password <password>`: the hash to put in the config (never the password). */
export async function mqttCommand(args: string[]): Promise<number> {
  const [verb, pw] = args;
  if (verb !== 'hash-password' || !pw) {
    console.error('usage: fillgate mqtt hash-password <password>');
    return 2;
  }
  console.log(hashPassword(pw));
  return 0;
}
