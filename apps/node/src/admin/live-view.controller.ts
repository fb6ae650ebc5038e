import { Controller, Get, Header } from '@nestjs/common';
import { LIVE_VIEW_HTML, liveViewScript } from './live-view.js';

/** Only this origin's script and API; inline styles of the page itself. */
const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** GET / — the live view of this node's cluster (see live-view.ts); GET /live-view.js — its script. */
@Controller()
export class LiveViewController {
  private readonly scriptText = liveViewScript();

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return LIVE_VIEW_HTML;
  }

  @Get('live-view.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  script(): string {
    return this.scriptText;
  }
}
