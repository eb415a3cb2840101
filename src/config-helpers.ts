/**
 * The object validators, under the name the option parsers first imported them by; new code
 * imports them from ./validate.js, which holds every validator.
 * @module
 */
export { rejectUnknownKeys, requireObject } from './validate.js';
