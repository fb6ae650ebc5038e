/**
 * TLS alert codes used to refuse a peer certificate. js-quic's verifyCallback rejects by
 * returning a CryptoError (0x100 + TLS alert). Each verification failure gets its own
 * alert, so the refused side can tell why from the alert it receives:
 *
 *   missing        → certificate_unknown (0x100+46)
 *   self-signed    → bad_certificate     (0x100+42)
 *   expired        → certificate_expired (0x100+45)
 *   not-yet-valid  → unsupported_certificate (0x100+43)
 *   unknown-ca     → unknown_ca          (0x100+48)
 *   bad-signature  → decrypt_error       (0x100+51)
 *   no-node-id     → access_denied       (0x100+49)
 */
import { native } from '@matrixai/quic';
import type { PeerVerifyFailure } from './verify.js';

const { CryptoError } = native;

const TO_CODE: Record<PeerVerifyFailure, number> = {
  missing: CryptoError.CertificateUnknown,
  'self-signed': CryptoError.BadCertificate,
  expired: CryptoError.CertificateExpired,
  'not-yet-valid': CryptoError.UnsupportedCertificate,
  'unknown-ca': CryptoError.UnknownCA,
  'bad-signature': CryptoError.DecryptError,
  'no-node-id': CryptoError.AccessDenied,
};

const FROM_CODE = new Map<number, PeerVerifyFailure>(Object.entries(TO_CODE).map(([k, v]) => [v, k as PeerVerifyFailure]));

export function cryptoCodeFor(reason: PeerVerifyFailure): number {
  return TO_CODE[reason];
}

/** The verification failure an alert code stands for, or `tls-alert-<code>` for any other alert. */
export function reasonForCryptoCode(code: number | undefined): string {
  if (code === undefined) return 'tls';
  return FROM_CODE.get(code) ?? (code === 0x100 + 116 ? 'missing' : `tls-alert-${code}`);
}
