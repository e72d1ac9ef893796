// The part of mhart's `aws4` (CommonJS, no bundled types) that nodeSigner uses.
// https://github.com/mhart/aws4#api
declare module "aws4" {
  interface Aws4Request {
    host: string;
    path: string;
    method: string;
    headers: Record<string, string>;
    service: string;
    region: string;
  }
  interface Aws4Credentials {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  }
  const aws4: {
    sign(request: Aws4Request, credentials: Aws4Credentials): Aws4Request;
  };
  export default aws4;
}
