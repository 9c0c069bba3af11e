/**
 * Makes a throwaway certificate authority and a leaf certificate it signed
 * (for 127.0.0.1 and localhost) with the openssl CLI, for the wss tests.
 *
 * @module
 */

import { run, tempDir } from "../_loopback.ts";

/** PEM texts of a CA and a leaf signed by it. */
export interface TestCertificates {
  caCert: string;
  cert: string;
  key: string;
}

/** Creates the CA and the leaf in a temporary directory (removed before returning). */
export async function makeCertificates(): Promise<TestCertificates> {
  await using dir = tempDir("netkit-ws-certs-");
  const p = (name: string) => `${dir.path}/${name}`;
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=netkit test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
  await run("openssl", [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    p("leaf.key"),
    "-out",
    p("leaf.csr"),
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    p("leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    p("leaf.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-out",
    p("leaf.pem"),
    "-days",
    "2",
    "-extfile",
    p("leaf.ext"),
  ]);
  return {
    caCert: await Deno.readTextFile(p("ca.pem")),
    cert: await Deno.readTextFile(p("leaf.pem")),
    key: await Deno.readTextFile(p("leaf.key")),
  };
}
