// libmime ships no types; it is mailparser's own header decoder (a transitive dependency).
declare module "libmime" {
  interface Libmime {
    /** Decodes RFC 2047 encoded-words in a header value. */
    decodeWords(value: string): string;
  }
  const libmime: Libmime;
  export default libmime;
}
