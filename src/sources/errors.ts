import { OperatorError } from '../errors.js';

/** An input that cannot be read (missing, a directory, a broken header, an oversize CSV row). */
export class SourceError extends OperatorError {
  override name = 'SourceError';
}
