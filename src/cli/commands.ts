// The commands, in the order `gatehouse --help` lists them. Each lives in a file of its own.
import type { Command } from './command.ts';
import { serveCommand } from './serve.ts';
import { checkCommand } from './check.ts';
import { migrateCommand } from './migrate.ts';
import { userCommand } from './user.ts';
import { sessionCommand } from './session.ts';
import { agentCommand } from './agent.ts';
import { auditCommand } from './audit.ts';
import { inviteCommand } from './invite.ts';
import { keysCommand } from './keys.ts';
import { explainCommand } from './explain.ts';
import { doctorCommand } from './doctor.ts';
import { BACKUP_COMMANDS } from './backup.ts';

export type { Command };

export const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  check: checkCommand,
  migrate: migrateCommand,
  user: userCommand,
  session: sessionCommand,
  agent: agentCommand,
  audit: auditCommand,
  invite: inviteCommand,
  keys: keysCommand,
  explain: explainCommand,
  doctor: doctorCommand,
  ...BACKUP_COMMANDS,
};
