import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DEPLOYMENT_NAME } from '../names';
import { meta, type Resolved } from './props';

/** The pods' identity: no API token mounted (the backend never calls the Kubernetes API). */
export class BackendServiceAccount extends Construct {
  readonly serviceAccount: kplus.ServiceAccount;

  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    this.serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: meta(r, DEPLOYMENT_NAME),
      automountToken: false,
    });
  }
}
