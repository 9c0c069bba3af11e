/**
 * Throwaway certificate authorities and leaves made with the openssl CLI, for the TLS tests of
 * every module (private to the tests).
 *
 * @module
 */

import { run, tempDir } from "./_loopback.ts";

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** PEM texts of one certificate and its private key. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** Which uses a leaf certificate is made for. */
export type LeafUse = "server" | "client";

/** A certificate authority that signs leaves in a directory of its own, removed on dispose. */
export interface TestCa extends AsyncDisposable {
  /** The CA certificate (PEM), to trust. */
  caCert: string;
  /** A leaf for 127.0.0.1 and localhost signed by this CA. */
  leaf(name: string, use: LeafUse): Promise<KeyPair>;
}

/** Makes a CA named `name`. */
export async function makeCa(name = "netkit test CA"): Promise<TestCa> {
  const dir = tempDir("netkit-certs-");
  const f = (file: string) => `${dir.path}/${file}`;
  await run("openssl", [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]); // deno-fmt-ignore
  return {
    caCert: await Deno.readTextFile(f("ca.pem")),
    async leaf(leafName: string, use: LeafUse): Promise<KeyPair> {
      await run("openssl", [
        "req", ...EC_KEY, "-keyout", f(`${leafName}.key`), "-out", f(`${leafName}.csr`),
        "-subj", `/CN=${leafName}`,
      ]); // deno-fmt-ignore
      const ext = use === "server"
        ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        : "extendedKeyUsage=clientAuth\n";
      await Deno.writeTextFile(
        f(`${leafName}.ext`),
        `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n${ext}`,
      );
      await run("openssl", [
        "x509", "-req", "-in", f(`${leafName}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"),
        "-CAcreateserial", "-out", f(`${leafName}.pem`), "-days", "2",
        "-extfile", f(`${leafName}.ext`),
      ]); // deno-fmt-ignore
      return {
        cert: await Deno.readTextFile(f(`${leafName}.pem`)),
        key: await Deno.readTextFile(f(`${leafName}.key`)),
      };
    },
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

/** A CA and one server leaf for 127.0.0.1/localhost signed by it. */
export async function makeServerCertificates(): Promise<KeyPair & { caCert: string }> {
  await using ca = await makeCa();
  return { caCert: ca.caCert, ...await ca.leaf("server", "server") };
}
