import { graphModelSuite } from './graph-suite.js';

// Under TC39 standard decorators: the fixtures' classes record their metadata the other way.
graphModelSuite();
