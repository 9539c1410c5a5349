// libmime ships no types; it is the header decoder of the nodemailer/mailparser family.
declare module "libmime" {
  interface Libmime {
    /** Decodes RFC 2047 encoded-words in a header value. */
    decodeWords(value: string): string;
  }
  const libmime: Libmime;
  export default libmime;
}
