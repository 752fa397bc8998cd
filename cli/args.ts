// Command-line options: node:util's parseArgs plus typed conversion and errors that name the option,
// the value and what is accepted. Every command describes its options once; --help is generated.

import { parseArgs } from 'node:util';

/** A command-line mistake (bad option, missing argument): the CLI prints its message without a stack trace. */
export class UsageError extends Error {}

interface OptionBase {
  help: string;
  short?: string;
}
/** One option of a command: help text, optional short flag, and its type (string with optional choices, number with optional integer/min, or boolean) with an optional default. */
export type OptionSpec =
  | (OptionBase & { type: 'string'; default?: string; choices?: readonly string[]; valueName?: string })
  | (OptionBase & {
      type: 'number';
      default?: number;
      integer?: boolean;
      min?: number;
      above?: number;
      below?: number;
      valueName?: string;
    })
  | (OptionBase & { type: 'boolean' });

/** A subcommand's name, one-line summary, usage line, options and positional arguments, from which parsing and --help are derived. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  positionals?: string;
}

/** Option values by name, untyped. */
export type ParsedValues = Record<string, string | number | boolean | undefined>;

/** The value an option parses to: its choices' union for strings with choices; undefined unless it has a default. */
type OptionValue<O> = O extends { type: 'boolean' }
  ? boolean
  : O extends { type: 'number' }
    ? number | (O extends { default: number } ? never : undefined)
    : (O extends { choices: readonly (infer C)[] } ? C : string) | (O extends { default: string } ? never : undefined);

/** Every option's value, typed from the command's spec (declare specs `as const satisfies CommandSpec`). */
export type OptionValues<C extends CommandSpec> = { -readonly [K in keyof C['options']]: OptionValue<C['options'][K]> };

/** A parsed command line: typed option values (defaults filled in), positionals, and which options were given. */
export interface ParsedCommand<C extends CommandSpec> {
  values: OptionValues<C>;
  positionals: string[];
  /** The options that were on the command line (not filled in from defaults). */
  given: Set<keyof C['options'] & string>;
}

/** The --help text of a command: summary, usage, then one line per option with its choices and default. */
export function helpText(c: CommandSpec): string {
  const lines = [`yopo ${c.name}: ${c.summary}`, '', `usage: yopo ${c.usage}`, '', 'options:'];
  const entries = Object.entries(c.options);
  for (const [name, o] of entries) {
    const value =
      o.type === 'boolean' ? '' : ` ${('valueName' in o && o.valueName) || (o.type === 'number' ? 'N' : 'VALUE')}`;
    const flag = `  ${o.short ? `-${o.short}, ` : ''}--${name}${value}`;
    const extra: string[] = [];
    if (o.type === 'string' && o.choices) extra.push(`one of ${o.choices.join(', ')}`);
    if (o.type !== 'boolean' && o.default !== undefined) extra.push(`default ${o.default}`);
    lines.push(`${flag.padEnd(34)} ${o.help}${extra.length ? ` (${extra.join('; ')})` : ''}`);
  }
  lines.push(`${'  -h, --help'.padEnd(34)} show this help`);
  return lines.join('\n');
}

/**
 * Parses argv for a command. Throws UsageError naming the bad option; returns null after --help.
 * `given` names the options that were on the command line (not filled in from defaults).
 */
export function parseCommand<C extends CommandSpec>(c: C, argv: string[]): ParsedCommand<C> | null {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(c.options))
    options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs's messages can span lines ("argument is ambiguous.\nDid you forget..."): keep one line.
    const msg = (error as Error).message
      .replace(/\. To specify a positional argument.*$/s, '')
      .replace(/\s*\n\s*/g, ' ')
      .replace(/\.$/, '');
    throw new UsageError(`yopo ${c.name}: ${msg.charAt(0).toLowerCase()}${msg.slice(1)}; see 'yopo ${c.name} --help'`);
  }
  if (parsed.values.help) {
    console.log(helpText(c));
    return null;
  }
  if (parsed.positionals.length && !c.positionals) {
    throw new UsageError(`yopo ${c.name}: unexpected argument '${parsed.positionals[0]}'; see 'yopo ${c.name} --help'`);
  }
  const values: ParsedValues = {};
  for (const [name, o] of Object.entries(c.options)) {
    const raw = parsed.values[name];
    if (o.type === 'boolean') {
      values[name] = raw === true;
      continue;
    }
    if (raw === undefined) {
      values[name] = o.default;
      continue;
    }
    const text = String(raw);
    if (o.type === 'string') {
      if (o.choices && !o.choices.includes(text))
        throw new UsageError(`yopo ${c.name}: --${name} must be one of ${o.choices.join(', ')} (got '${text}')`);
      values[name] = text;
    } else {
      const v = Number(text);
      if (text.trim() === '' || !Number.isFinite(v))
        throw new UsageError(`yopo ${c.name}: --${name} must be a number (got '${text}')`);
      if (o.integer && !Number.isInteger(v))
        throw new UsageError(`yopo ${c.name}: --${name} must be a whole number (got '${text}')`);
      if (o.min !== undefined && v < o.min)
        throw new UsageError(`yopo ${c.name}: --${name} must be at least ${o.min} (got '${text}')`);
      if (o.above !== undefined && !(v > o.above))
        throw new UsageError(`yopo ${c.name}: --${name} must be greater than ${o.above} (got '${text}')`);
      if (o.below !== undefined && !(v < o.below))
        throw new UsageError(`yopo ${c.name}: --${name} must be less than ${o.below} (got '${text}')`);
      values[name] = v;
    }
  }
  const given = new Set(Object.keys(c.options).filter((name) => parsed.values[name] !== undefined));
  // Each value was converted by its spec above, which is what OptionValues<C> states.
  return { values: values as OptionValues<C>, positionals: parsed.positionals, given };
}

const DECIMAL = '(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?';

/**
 * '8/255', '0.031' or '1e-3' as a number (ε and step sizes are often written as fractions of 255).
 * With `positive`, zero is refused too (a zero-strength attack step would measure nothing).
 */
export function parseFraction(text: string, option: string, command: string, positive = false): number {
  const m = new RegExp(`^\\s*(${DECIMAL})\\s*(?:/\\s*(${DECIMAL}))?\\s*$`).exec(text);
  const v = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  const what = positive ? 'a positive number' : 'a non-negative number';
  if (!Number.isFinite(v) || v < 0 || (positive && v === 0))
    throw new UsageError(`yopo ${command}: --${option} must be ${what} or a fraction like 8/255 (got '${text}')`);
  return v;
}

/** Values per image of each dataset (channels × height × width), for the largest meaningful L2 radius. */
const IMAGE_VALUES: Record<string, number> = { mnist: 784, 'fashion-mnist': 784, cifar10: 3072 };

/**
 * Checks a radius or step (ε, α, σ) against the images' range [0, 1]: under L∞ no pixel can move more
 * than 1; under L2 no image more than √(values per image) (every pixel from 0 to 1). Returns `value`.
 */
export function checkRadius(value: number, option: string, command: string, norm: 'linf' | 'l2', data: string): number {
  const largest = norm === 'linf' ? 1 : Math.sqrt(IMAGE_VALUES[data] ?? Infinity);
  if (value > largest) {
    const why =
      norm === 'linf'
        ? 'no pixel of an image in [0, 1] can move further under L∞'
        : `no ${data} image in [0, 1] is further than that from another under L2`;
    throw new UsageError(
      `yopo ${command}: --${option} ${Number(value.toPrecision(4))} is larger than ${Number(largest.toPrecision(4))} (${why})`,
    );
  }
  return value;
}
