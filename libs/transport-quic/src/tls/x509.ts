/**
 * The one entry to @peculiar/x509: it needs a Reflect metadata polyfill loaded before it
 * (tsyringe), and a WebCrypto provider (Node's).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export * from '@peculiar/x509';
