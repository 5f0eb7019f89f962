import { existsSync } from 'node:fs';
import { readSecrets } from '../secrets/secrets.ts';
import { resolveStateDir, statePaths } from '../state/state-dir.ts';

// Prints secrets to the installer's terminal on purpose; this is the one place
// they are shown. Nothing here goes through the logger.
export function runSecretsShow(opts: { stateDir?: string; json?: boolean }): number {
  const file = statePaths(resolveStateDir(process.env, opts.stateDir)).secrets;
  if (!existsSync(file)) {
    console.error(`no secrets yet at ${file}: they are generated the first time the box starts (tillbox start).`);
    return 1;
  }
  const secrets = readSecrets(file);
  if (opts.json) {
    const nodeRed = secrets.nodeRed && { username: secrets.nodeRed.username, password: secrets.nodeRed.password, credentialSecret: secrets.nodeRed.credentialSecret };
    console.log(JSON.stringify({ mqtt: secrets.mqtt, api: secrets.api, nodeRed, createdAt: secrets.createdAt }, null, 2));
    return 0;
  }
  console.log(`tillbox secrets (generated ${secrets.createdAt}, ${file})\n`);
  console.log('MQTT accounts (client id = username or username-<suffix>):');
  for (const a of secrets.mqtt) console.log(`  ${a.role.padEnd(8)} username ${a.username.padEnd(8)} password ${a.password}`);
  console.log('\nHTTP API tokens (Authorization: Bearer <token>):');
  for (const t of secrets.api) console.log(`  ${t.name.padEnd(8)} ${t.role.padEnd(8)} ${t.token}`);
  if (secrets.nodeRed) {
    console.log('\nNode-RED editor (tillbox flows):');
    console.log(`  username ${secrets.nodeRed.username}  password ${secrets.nodeRed.password}`);
    console.log(`  credentialSecret ${secrets.nodeRed.credentialSecret}  (encrypts flows_cred.json; keep it with a backup of the flows)`);
  } else {
    console.log('\nNode-RED editor: not generated yet (the next start of the box adds it).');
  }
  return 0;
}
