/** The pure parts of the PostgreSQL datastore's read replicas (replicas.ts); the rest runs in replicas.cluster.ts. */
import { describe, expect, it } from 'vitest';
import { chooseReplica, lagRevisions, replicaName } from '../../src/datastore/postgres/replicas.js';

describe('read replicas', () => {
  it('names a replica by host and port, never by its credentials', () => {
    expect(replicaName('postgres://pemba:secret@db-replica-1.internal:6432/pemba?sslmode=require')).toBe(
      'db-replica-1.internal:6432',
    );
    expect(replicaName('postgres://pemba:secret@10.0.0.7/pemba')).toBe('10.0.0.7:5432');
    expect(replicaName('postgresql://[::1]:5433/db')).toBe('[::1]:5433');
    expect(replicaName('host=replica port=5433 user=pemba password=secret')).toBe('replica:5433');
    expect(replicaName('password=secret')).toBe('replica');
  });

  it('chooses round robin among the replicas that are up and have applied the revision', () => {
    const replicas = [
      { up: true, head: 10n },
      { up: false, head: 20n },
      { up: true, head: 5n },
      { up: true, head: 12n },
    ];
    const picks: (number | undefined)[] = [];
    let cursor = 0;
    for (let i = 0; i < 4; i++) {
      const choice = chooseReplica(replicas, 8n, cursor);
      picks.push(choice.index);
      cursor = choice.cursor;
    }
    expect(picks).toEqual([0, 3, 0, 3]);
    expect(chooseReplica(replicas, 12n, 0).index).toBe(3);
    expect(chooseReplica(replicas, 13n, 2)).toEqual({ index: undefined, cursor: 2 });
    expect(chooseReplica([], 0n, 0)).toEqual({ index: undefined, cursor: 0 });
  });

  it('counts lag in revisions, never below 0', () => {
    expect(lagRevisions(10n, 7n)).toBe(3);
    expect(lagRevisions(7n, 10n)).toBe(0);
  });
});
