/** Commander argument parsers that reject bad numbers with a plain message. */
import { InvalidArgumentError } from 'commander';

export function numberArg(flag: string, min?: number, max?: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${flag} needs a number, not "${value}".`);
    if (min !== undefined && n < min) throw new InvalidArgumentError(`${flag} must be at least ${min}.`);
    if (max !== undefined && n > max) throw new InvalidArgumentError(`${flag} must be at most ${max}.`);
    return n;
  };
}

export function intArg(flag: string, min?: number, max?: number) {
  const parse = numberArg(flag, min, max);
  return (value: string): number => {
    const n = parse(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${flag} needs a whole number, not "${value}".`);
    return n;
  };
}
