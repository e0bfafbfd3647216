/* the unit-test suites, one per engine file (test/unit/test_<name>.c) */
#ifndef SM_TESTS_H
#define SM_TESTS_H
void		test_json(void);
void		test_dtype(void);
void		test_safetensors(void);
void		test_model(void);
void		test_activ(void);
void		test_rnn(void);
#endif
