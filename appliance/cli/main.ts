import { enableCompileCache } from 'node:module';
import { Command, CommanderError, Option } from 'commander';

// Cache compiled code (and Node's TypeScript type-stripping output) on disk
// (os.tmpdir()/node-compile-cache unless NODE_COMPILE_CACHE says otherwise;
// the flows process gets its own, flows-permissions.ts flowsCompileCacheDir)
// so later starts of every tillbox process skip parsing.
enableCompileCache();

// The `tillbox` command. Each subcommand lives in its own module and returns
// an exit code; this file only parses arguments. Subcommands are imported
// lazily so `config check` does not load the broker and HTTP stacks.

const program = new Command('tillbox').description('tillbox store appliance').showHelpAfterError().exitOverride();

program
  .command('start')
  .description('start the box: every process as a supervised child (core, devices, flows)')
  .option('-c, --config <file>', 'YAML config file')
  .option('--demo', 'demo mode: demo catalog and store, open loopback access')
  .option('--with-hq', 'also run the reference HQ (embedded cloud broker + PGlite) and sync the box to it')
  .option('--state-dir <dir>', 'state directory (default: $TILLBOX_STATE_DIR or ./.tillbox)')
  // Internal: what the supervisor needs from the config, as JSON (start-plan.ts).
  .addOption(new Option('--print-plan').hideHelp())
  .action(async (opts: { config?: string; demo?: boolean; stateDir?: string; withHq?: boolean; printPlan?: boolean }) => {
    if (opts.printPlan) {
      const { startPlan } = await import('./start-plan.ts');
      console.log(JSON.stringify(startPlan(opts)));
      return;
    }
    const { runStart } = await import('./start.ts');
    process.exitCode = await runStart(opts);
  });

program
  .command('doctor')
  .description('check the state dir, secrets, ports, broker, journal, clock and disk')
  .option('-c, --config <file>', 'YAML config file')
  .option('--demo', 'check the demo configuration')
  .option('--state-dir <dir>', 'state directory')
  .option('--json', 'machine-readable output')
  .action(async (opts: { config?: string; demo?: boolean; stateDir?: string; json?: boolean }) => {
    const { runDoctor } = await import('./doctor.ts');
    process.exitCode = await runDoctor(opts);
  });

program
  .command('core')
  .description('run the core process alone (broker, journal, POS API); systemd runs it as its own unit')
  .option('-c, --config <file>', 'YAML config file')
  .option('--demo', 'demo mode: demo catalog and store, open loopback access')
  .option('--state-dir <dir>', 'state directory (default: $TILLBOX_STATE_DIR or ./.tillbox)')
  .action(async (opts: { config?: string; demo?: boolean; stateDir?: string }) => {
    const { runCore } = await import('./core.ts');
    process.exitCode = await runCore(opts);
  });

program
  .command('flows')
  .description('run the flows process alone (embedded Node-RED with the tillbox nodes and the store flows)')
  .option('-c, --config <file>', 'YAML config file')
  .option('--demo', 'demo mode (demo store)')
  .option('--state-dir <dir>', 'state directory (default: $TILLBOX_STATE_DIR or ./.tillbox)')
  .action(async (opts: { config?: string; demo?: boolean; stateDir?: string }) => {
    const { runFlows } = await import('./flows.ts');
    process.exitCode = await runFlows(opts);
  });

program
  .command('devices')
  .description('run the devices process alone (drivers, hotplug, print queue); waits for core')
  .option('-c, --config <file>', 'YAML config file')
  .option('--demo', 'demo mode: start the peripheral simulators and use them')
  .option('--state-dir <dir>', 'state directory shared with core (default: $TILLBOX_STATE_DIR or ./.tillbox)')
  .action(async (opts: { config?: string; demo?: boolean; stateDir?: string }) => {
    const { runDevices } = await import('./devices.ts');
    process.exitCode = await runDevices(opts);
  });

const config = program.command('config').description('configuration tools');
config
  .command('check <file>')
  .description('validate a config file (and TILLBOX_* environment overrides)')
  .action(async (file: string) => {
    const { runConfigCheck } = await import('./config-check.ts');
    process.exitCode = runConfigCheck(file);
  });

program
  .command('enroll')
  .description("enrol this box at HQ (EST): a key made here, a certificate from HQ's CA; exit 0 when enrolled")
  .option('--url <url>', "HQ's EST server, https://host:port (default: enrolment.url)")
  .option('--token <token>', 'one-time enrolment token (tillbox-hq token create); absent: by pairing code')
  .option('--ca-fingerprint <sha256>', "SHA-256 of HQ's device CA, from the operator (default: enrolment.caFingerprint)")
  .option('-c, --config <file>', 'YAML config file')
  .option('--state-dir <dir>', 'state directory')
  .option('--json', 'machine-readable output')
  .action(async (opts: { url?: string; token?: string; caFingerprint?: string; config?: string; stateDir?: string; json?: boolean }) => {
    const { runEnroll } = await import('./enroll.ts');
    process.exitCode = await runEnroll(opts);
  });

const identity = program.command('identity').description("the box's certificate");
identity
  .command('show')
  .description('state, subject, issuer, serial, validity, fingerprint, pairing code')
  .option('-c, --config <file>', 'YAML config file')
  .option('--state-dir <dir>', 'state directory')
  .option('--json', 'machine-readable output')
  .action(async (opts: { config?: string; stateDir?: string; json?: boolean }) => {
    const { runIdentityShow } = await import('./enroll.ts');
    process.exitCode = await runIdentityShow(opts);
  });

const secrets = program.command('secrets').description('per-device secrets');
secrets
  .command('show')
  .description('print the MQTT credentials and API tokens of this box (for the installer)')
  .option('--state-dir <dir>', 'state directory')
  .option('--json', 'machine-readable output')
  .action(async (opts: { stateDir?: string; json?: boolean }) => {
    const { runSecretsShow } = await import('./secrets-show.ts');
    process.exitCode = runSecretsShow(opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else {
    console.error(`tillbox: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
