import { Command, CommanderError } from 'commander';
import { runStart } from './start.ts';
import { runDoctor } from './doctor.ts';
import { runConfigCheck } from './config-check.ts';
import { runSecretsShow } from './secrets-show.ts';

// The `tillbox` command. Each subcommand lives in its own module and returns
// an exit code; this file only parses arguments.

const program = new Command('tillbox')
  .description('tillbox store appliance')
  .showHelpAfterError()
  .exitOverride();

program
  .command('start')
  .description('start the box (core: broker, journal, POS API)')
  .option('-c, --config <file>', 'YAML config file')
  .option('--demo', 'demo mode: demo catalog and store, open loopback access')
  .option('--state-dir <dir>', 'state directory (default: $TILLBOX_STATE_DIR or ./.tillbox)')
  .action(async (opts: { config?: string; demo?: boolean; stateDir?: string }) => {
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
    process.exitCode = await runDoctor(opts);
  });

const config = program.command('config').description('configuration tools');
config
  .command('check <file>')
  .description('validate a config file (and TILLBOX_* environment overrides)')
  .action((file: string) => {
    process.exitCode = runConfigCheck(file);
  });

const secrets = program.command('secrets').description('per-device secrets');
secrets
  .command('show')
  .description('print the MQTT credentials and API tokens of this box (for the installer)')
  .option('--state-dir <dir>', 'state directory')
  .option('--json', 'machine-readable output')
  .action((opts: { stateDir?: string; json?: boolean }) => {
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
