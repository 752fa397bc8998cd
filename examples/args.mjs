// Command-line settings shared by the examples: `--name value` pairs over the defaults given.
export function settings(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults))
      throw new Error(
        `unknown option --${key}; expected one of ${Object.keys(defaults)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    out[key] = typeof defaults[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return out;
}
