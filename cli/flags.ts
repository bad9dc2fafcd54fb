// Numeric command-line flags, checked the same way by every command: the error names the flag, the value and the rule.

/** A flag that must be a whole number (0 or more). */
export function wholeNumberFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--${flag} ${JSON.stringify(value)} must be a whole number`);
  }
  return n;
}

/** A listen port: a whole number from 0 (any free port) to 65535. */
export function portFlag(flag: string, value: string): number {
  const n = wholeNumberFlag(flag, value);
  if (n > 65535) throw new Error(`--${flag} ${JSON.stringify(value)} must be a port from 0 to 65535`);
  return n;
}

/** `wholeNumberFlag` as a commander option parser. */
export function wholeNumberOption(flag: string): (value: string) => number {
  return (value) => wholeNumberFlag(flag, value);
}

/** `<namespace>/<name>` from a flag, or undefined when the flag is absent; the error names the flag. */
export function objectRef(flag: string, value: string | undefined): { namespace: string; name: string } | undefined {
  if (value === undefined) return undefined;
  const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(value);
  if (!m) throw new Error(`--${flag} ${JSON.stringify(value)} must be <namespace>/<name>`);
  return { namespace: m[1]!, name: m[2]! };
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * The value of a flag that was renamed: `--<newFlag>`'s, or else the old `--<oldFlag>`'s with a warning that it is
 * deprecated (it keeps working). Both at once is an error naming them.
 */
export function renamedFlag(
  options: object,
  oldFlag: string,
  newFlag: string,
  warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
): string | undefined {
  const values = options as Record<string, unknown>;
  const current = values[camel(newFlag)] as string | undefined;
  const old = values[camel(oldFlag)] as string | undefined;
  if (old === undefined) return current;
  if (current !== undefined)
    throw new Error(`--${oldFlag} is the deprecated name of --${newFlag}; give only --${newFlag}`);
  warn(`warning: --${oldFlag} is deprecated; use --${newFlag} (same values)`);
  return old;
}
