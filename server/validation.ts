/**
 * Two Ajv instances behind Fastify's validator: bodies are checked strictly
 * (no coercion, unknown fields rejected by `additionalProperties: false`, never
 * silently removed); querystrings and params are coerced from strings.
 */
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import type { FastifyInstance } from "fastify";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: coerce ? "array" : false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

export function installValidation(app: FastifyInstance, sharedSchemas: object[]): void {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  for (const s of sharedSchemas) {
    strict.addSchema(s);
    coercing.addSchema(s);
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? strict : coercing).compile(schema) as any,
  );
}
