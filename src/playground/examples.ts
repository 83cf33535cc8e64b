/** Worked examples for the playground: each passes all its assertions and expected relations. */
import type { PlaygroundState } from './engine.js';

export interface Example {
  id: string;
  title: string;
  state: PlaygroundState;
  /** A check to put in the check panel. */
  check: { resource: string; permission: string; subject: string; context?: string };
}

const documents: Example = {
  id: 'documents',
  title: 'Documents and folders',
  state: {
    schema: `definition user {}

/** A folder; its viewers see everything inside, folders nested included. */
definition folder {
  relation parent: folder
  relation owner: user
  relation viewer: user
  permission manage = owner + parent->manage
  permission view = viewer + manage + parent->view
}

definition document {
  relation parent: folder
  relation owner: user
  relation editor: user
  relation viewer: user | user:*
  relation banned: user
  permission edit = owner + editor + parent->manage
  permission view = (edit + viewer + parent->view) - banned
}`,
    relationships: `folder:company#owner@user:carol
folder:engineering#parent@folder:company
folder:engineering#viewer@user:dave
document:roadmap#parent@folder:engineering
document:roadmap#editor@user:ann
document:roadmap#banned@user:eve
document:handbook#viewer@user:*
document:handbook#banned@user:eve`,
    assertions: `assertTrue:
  - document:roadmap#view@user:ann
  - document:roadmap#view@user:dave
  - document:roadmap#edit@user:carol
  - document:handbook#view@user:bob
assertFalse:
  - document:roadmap#edit@user:dave
  - document:roadmap#view@user:eve
  - document:handbook#view@user:eve`,
    validation: `document:roadmap#edit:
  - "[user:ann] is <document:roadmap#editor>"
  - "[user:carol] is <folder:company#owner>"`,
  },
  check: { resource: 'document:roadmap', permission: 'view', subject: 'user:dave' },
};

const github: Example = {
  id: 'github',
  title: 'GitHub-like organizations and teams',
  state: {
    schema: `definition user {}

definition organization {
  relation admin: user
  relation member: user
  permission manage = admin
  permission read_all = admin
  permission is_member = member + admin
}

definition team {
  relation parent: organization
  relation maintainer: user
  relation direct_member: user | team#member
  permission member = maintainer + direct_member
}

definition repository {
  relation owner: organization
  relation reader: user | team#member
  relation writer: user | team#member
  relation admin: user | team#member
  permission manage = admin + owner->manage
  permission write = writer + manage
  permission read = reader + write + owner->read_all
}`,
    relationships: `organization:acme#admin@user:olivia
organization:acme#member@user:ann
organization:acme#member@user:bob
team:backend#parent@organization:acme
team:backend#maintainer@user:ann
team:platform#direct_member@team:backend#member
team:platform#direct_member@user:bob
repository:api#owner@organization:acme
repository:api#writer@team:platform#member
repository:website#owner@organization:acme
repository:website#reader@user:bob`,
    assertions: `assertTrue:
  - repository:api#write@user:ann
  - repository:api#write@user:bob
  - repository:api#manage@user:olivia
  - repository:website#read@user:olivia
assertFalse:
  - repository:website#write@user:bob
  - repository:website#read@user:ann`,
    validation: `repository:api#write:
  - "[team:backend#member] is <team:platform#direct_member>"
  - "[team:platform#member] is <repository:api#writer>"
  - "[user:ann] is <team:backend#maintainer>"
  - "[user:bob] is <team:platform#direct_member>"
  - "[user:olivia] is <organization:acme#admin>"`,
  },
  check: { resource: 'repository:api', permission: 'write', subject: 'user:ann' },
};

const caveats: Example = {
  id: 'caveats',
  title: 'Caveats: access from allowed IP ranges',
  state: {
    schema: `/** Grants only when the request comes from inside the allowed range. */
caveat allowed_ip(user_ip ipaddress, allowed_range string) {
  user_ip.in_cidr(allowed_range)
}

definition user {}

definition server {
  relation operator: user with allowed_ip
  relation owner: user
  permission ssh = owner + operator
}`,
    relationships: `server:db1#owner@user:root
server:db1#operator@user:ann[allowed_ip:{"allowed_range":"10.20.0.0/16"}]
server:db1#operator@user:bob[allowed_ip]`,
    assertions: `assertTrue:
  - server:db1#ssh@user:root
  - 'server:db1#ssh@user:ann with {"user_ip": "10.20.30.40"}'
  - 'server:db1#ssh@user:bob with {"user_ip": "192.168.1.7", "allowed_range": "192.168.1.0/24"}'
assertCaveated:
  - server:db1#ssh@user:ann
assertFalse:
  - 'server:db1#ssh@user:ann with {"user_ip": "172.16.0.1"}'
  - server:db1#ssh@user:carol`,
    validation: `server:db1#ssh:
  - "[user:ann[...]] is <server:db1#operator>"
  - "[user:bob[...]] is <server:db1#operator>"
  - "[user:root] is <server:db1#owner>"`,
  },
  check: {
    resource: 'server:db1',
    permission: 'ssh',
    subject: 'user:ann',
    context: '{"user_ip": "10.20.30.40"}',
  },
};

const expiring: Example = {
  id: 'expiring',
  title: 'Expiring access',
  state: {
    schema: `use expiration

definition user {}

definition project {
  relation member: user
  relation contractor: user with expiration
  permission view = member + contractor
}`,
    relationships: `project:apollo#member@user:ann
project:apollo#contractor@user:kim[expiration:2099-12-31T23:59:59Z]
project:apollo#contractor@user:lee[expiration:2021-06-30T00:00:00Z]`,
    assertions: `assertTrue:
  - project:apollo#view@user:ann
  - project:apollo#view@user:kim
assertFalse:
  - project:apollo#view@user:lee`,
    validation: `project:apollo#view:
  - "[user:ann] is <project:apollo#member>"
  - "[user:kim] is <project:apollo#contractor>"`,
  },
  check: { resource: 'project:apollo', permission: 'view', subject: 'user:lee' },
};

export const EXAMPLES: readonly Example[] = [documents, github, caveats, expiring];
