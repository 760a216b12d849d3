/** Nodemailer's RFC 5322 address-list parser (CommonJS, no typings of its own for this module). */
declare module 'nodemailer/lib/addressparser/index.js' {
  export interface ParsedAddress {
    readonly name: string;
    readonly address?: string;
    readonly group?: readonly ParsedAddress[];
  }
  export default function addressparser(text: string, options?: { flatten?: boolean }): ParsedAddress[];
}
