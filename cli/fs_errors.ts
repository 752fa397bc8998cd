// Node's file-system errors ("EISDIR: illegal operation on a directory, read", "ENAMETOOLONG: name
// too long, open '/very/long/…'") as one line a user understands: the path, and what was wrong with it.

const MEANINGS: Record<string, string> = {
  EISDIR: 'is a folder, expected a file',
  ENOTDIR: 'goes through a file where a folder was expected',
  ENAMETOOLONG: 'is too long a name for this file system',
  ENOENT: 'does not exist',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EROFS: 'is on a read-only file system',
  EEXIST: 'already exists',
  ELOOP: 'has too many symbolic links',
};

const ERRNO_TEXT = new RegExp(
  `\\b(${Object.keys(MEANINGS).join('|')}): [^,']*(?:, [a-z]+)?(?: '([^']*)')?(?: -> '[^']*')?`,
  'g',
);

/** A path fit for one line: very long ones keep their start and end and say how long they are. */
export function shortPath(path: string): string {
  return path.length <= 160 ? path : `${path.slice(0, 80)}…${path.slice(-60)} (a path of ${path.length} characters)`;
}

/** `message` with every raw errno text replaced by "PATH: what was wrong" (the path when known). */
export function explainFsErrors(message: string, path?: string): string {
  return message.replace(ERRNO_TEXT, (_match, code: string, quoted: string | undefined, offset: number) => {
    const p = quoted ?? path;
    // Named already ("cannot read checkpoint X: EISDIR: ..."): say it once.
    const named = p !== undefined && message.slice(0, offset).includes(p);
    return p && !named ? `${shortPath(p)}: ${MEANINGS[code]}` : MEANINGS[code];
  });
}
