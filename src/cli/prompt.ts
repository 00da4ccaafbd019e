import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { OidcConnectError } from '../errors.ts';

/**
 * Line prompts over stdin. Hidden prompts mute readline's echo through a muted output stream,
 * so a typed password never reaches the terminal.
 */
export function createPrompter(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout) {
  let muted = false;
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) output.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input, output: sink, terminal: Boolean((input as { isTTY?: boolean }).isTTY) });
  const lines: string[] = [];
  const waiting: Array<(line: string | undefined) => void> = [];
  let closed = false;
  rl.on('line', (line) => (waiting.length > 0 ? waiting.shift()!(line) : lines.push(line)));
  rl.on('close', () => {
    closed = true;
    while (waiting.length > 0) waiting.shift()!(undefined);
  });
  const nextLine = () => new Promise<string | undefined>((resolve) => {
    if (lines.length > 0) resolve(lines.shift());
    else if (closed) resolve(undefined);
    else waiting.push(resolve);
  });

  return {
    async ask(question: string, options: { hidden?: boolean } = {}): Promise<string> {
      output.write(question);
      muted = options.hidden === true;
      const answer = await nextLine();
      muted = false;
      if (options.hidden) output.write('\n');
      if (answer === undefined) throw new OidcConnectError('BAD_REQUEST', 'Cancelled: the input ended before every question was answered.');
      return answer;
    },
    close: () => rl.close(),
  };
}
