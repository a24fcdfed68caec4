export interface GraphErrorBody {
  error: {
    code: string;
    message: string;
    innerError: {
      date: string;
      'request-id': string;
      'client-request-id': string;
    };
  };
}

export interface RequestIds {
  requestId: string;
  clientRequestId?: string;
}

export function graphError(code: string, message: string, ids: RequestIds): GraphErrorBody {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString(),
        'request-id': ids.requestId,
        // Graph invents one when the client sent none; reusing request-id keeps logs joinable.
        'client-request-id': ids.clientRequestId ?? ids.requestId,
      },
    },
  };
}

const CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'Forbidden',
  404: 'ResourceNotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  412: 'PreconditionFailed',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export function defaultCodeFor(status: number): string {
  return CODES[status] ?? 'UnknownError';
}

const MESSAGES: Record<number, string> = {
  429: 'Too many requests. Please retry after the time given in the Retry-After header.',
  503: 'The service is temporarily unavailable. Please retry later.',
  504: 'The gateway timed out waiting for the upstream service.',
};

export function defaultMessageFor(status: number): string {
  return MESSAGES[status] ?? `The request failed with status ${status}.`;
}
