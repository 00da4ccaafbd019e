// The peers' access log: one pino line per request at level info, to standard output, written when
// the answer has gone, with the fields oidc-connect's own line carries (reqId, method, URL, address,
// user agent, status, response time): what pino-http does in an Express app in production. Without
// it, a peer would be measured doing less work per request than oidc-connect, which logs each one.
import type { NextFunction, Request, Response } from 'express';
import { pino } from 'pino';

export function accessLog(): (req: Request, res: Response, next: NextFunction) => void {
  const logger = pino({ level: 'info' });
  let counter = 0;
  return (req, res, next) => {
    const started = performance.now();
    const reqId = `req-${(++counter).toString(36)}`;
    res.once('finish', () => {
      logger.info({
        reqId,
        req: { method: req.method, url: req.originalUrl, remoteAddress: req.socket.remoteAddress, userAgent: req.headers['user-agent'] },
        res: { statusCode: res.statusCode },
        responseTime: performance.now() - started,
      }, 'request completed');
    });
    next();
  };
}
