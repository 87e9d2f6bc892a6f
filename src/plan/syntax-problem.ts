// The error the parsers of a plan's small string languages throw: a message and the offset in the string where
// the fault was found, which the caller turns into a positioned plan error.

export class SyntaxProblem extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'SyntaxProblem';
    this.offset = offset;
  }
}
