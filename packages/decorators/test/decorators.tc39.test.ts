import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { Lock, Machine, Step, machineModelOf } from '../src/index.js';
import { METADATA_KEYS } from '../src/metadata.js';
import { AuditedBase } from './fixtures/inheritance.js';
import { OrderMachine } from './fixtures/order-machine.js';
import { graphDecoratorSuite } from './fixtures/graph-suite.js';
import { sharedDecoratorSuite } from './fixtures/shared-suite.js';

// This project compiles with TC39 standard decorators: (value, context), no experimentalDecorators.
sharedDecoratorSuite();
graphDecoratorSuite();

const stepsKey = METADATA_KEYS.steps;

describe('TC39 decorators', () => {
  it('find Symbol.metadata polyfilled, so steps live in the class metadata', () => {
    expect(typeof (Symbol as { metadata?: symbol }).metadata).toBe('symbol');
    const metadata = (OrderMachine as unknown as Record<symbol, Record<string, unknown>>)[
      (Symbol as unknown as { metadata: symbol }).metadata
    ];
    expect(metadata?.[stepsKey]).toHaveLength(3);
    // Class decorators see the class itself and store with reflect-metadata, as in legacy mode.
    expect(Reflect.getOwnMetadata(METADATA_KEYS.machine, OrderMachine)).toStrictEqual({ name: 'order', topic: 'orders.fsm' });
    expect(Reflect.getOwnMetadata(METADATA_KEYS.lock, OrderMachine)).toStrictEqual({ scope: 'local', by: 'user' });
  });

  it('keep a base class steps in its own metadata, apart from its subclasses', () => {
    const metadata = (AuditedBase as unknown as Record<symbol, Record<string, unknown>>)[
      (Symbol as unknown as { metadata: symbol }).metadata
    ];
    expect(metadata?.[stepsKey]).toStrictEqual([{ order: 1, method: 'audit' }]);
  });

  it('reject @Step on a field, a getter, a static or a private method', () => {
    expect(() => {
      class WithField {
        // @ts-expect-error: a field decorator gets a field context, so the types refuse it too
        @Step(1) amount = 0;
      }
      return WithField;
    }).toThrow(/@Step\(1\) decorates methods, but was applied to a field \("amount"\)/);
    expect(() => {
      class WithGetter {
        // @ts-expect-error: a getter decorator gets a getter context
        @Step(1) get total() {
          return 0;
        }
      }
      return WithGetter;
    }).toThrow(/applied to a getter \("total"\)/);
    expect(() => {
      class WithStatic {
        @Step(2) static async make() {}
      }
      return WithStatic;
    }).toThrow(/@Step\(2\) cannot mark static method "make"/);
    expect(() => {
      class WithPrivate {
        @Step(3) async #secret() {}
        run() {
          return this.#secret();
        }
      }
      return WithPrivate;
    }).toThrow(/@Step\(3\) cannot mark private method "#secret"/);
  });

  it('reject class decorators on methods', () => {
    expect(() => {
      class WrongPlace {
        // @ts-expect-error: @Lock is a class decorator
        @Lock('global') async run() {}
      }
      return WrongPlace;
    }).toThrow(/@Lock decorates classes, but was applied to a method \("run"\)/);
  });
});

describe('TC39 decorators without decorator metadata', () => {
  // Some transpilers give no context.metadata; steps then wait for the class decorator.
  const methodContext = (name: string) =>
    ({ kind: 'method', name, static: false, private: false, metadata: undefined, addInitializer() {} }) as unknown as ClassMethodDecoratorContext;
  const classContext = (name: string) =>
    ({ kind: 'class', name, metadata: undefined, addInitializer() {} }) as unknown as ClassDecoratorContext;

  it('hands pending steps to the class decorator, also for methods another decorator wrapped', () => {
    class Manual {
      async first() {}
      async second() {}
    }
    const originalSecond = Manual.prototype.second;
    Step(1)(Manual.prototype.first, methodContext('first'));
    Step(2, { back: 'first' })(originalSecond, methodContext('second'));
    Manual.prototype.second = async function wrapped() {};
    Lock('global')(Manual, classContext('Manual'));
    Machine({ name: 'manual' })(Manual, classContext('Manual'));
    expect(machineModelOf(Manual).steps).toStrictEqual([
      { order: 1, name: 'first', method: 'first' },
      { order: 2, name: 'second', method: 'second', back: 'first' },
    ]);
    expect(machineModelOf(Manual).lock).toStrictEqual({ scope: 'global' });
  });

  it('keeps an undecorated base class steps for the subclass that claims them, on the base', () => {
    class PendingBase {
      async base() {}
    }
    Step(1)(PendingBase.prototype.base, methodContext('base'));
    class Unrelated {
      async other() {}
    }
    Machine({ name: 'unrelated' })(Unrelated, classContext('Unrelated'));
    expect(() => machineModelOf(Unrelated)).not.toThrow();
    expect(machineModelOf(Unrelated).steps).toEqual([]);

    class PendingSub extends PendingBase {
      async own() {}
    }
    Step(2)(PendingSub.prototype.own, methodContext('own'));
    Machine({ name: 'pending_sub' })(PendingSub, classContext('PendingSub'));
    expect(machineModelOf(PendingSub).steps.map((s) => s.method)).toEqual(['base', 'own']);
    expect(Reflect.getOwnMetadata(stepsKey, PendingBase)).toStrictEqual([{ order: 1, method: 'base' }]);
  });
});
